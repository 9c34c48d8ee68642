"""Hand-made Listen_AMI files and bodies for tests (the simulator makes the big realistic ones).

Rows and bodies come from the one Listen_AMI row builder (``asterisk_pipeline.devtools.rows``),
which the simulator and ``tests/support/conversations/shapes.py`` use too; what is added here is what
only tests need: hostile columns and values a damaged file holds, and explicit ids.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from asterisk_pipeline.devtools import rows as listen_ami
from asterisk_pipeline.devtools.rows import COLUMNS, Row
from asterisk_pipeline.model import SourceRow

TOKEN = "375001"
ROW_NAMES = listen_ami.ROW_COLUMNS


class RawText(bytes):
    """Bytes a damaged file holds as TEXT (invalid UTF-8, a lone surrogate's bytes): inserted
    with ``CAST(? AS TEXT)``, because Python's sqlite3 can only bind valid UTF-8 as text."""


def create_day_file(
    path: Path, tables: Sequence[str] = ("APIlogs", "AlternativeAPIlogs"), columns: str = COLUMNS
) -> Path:
    """``columns`` other than the PBX's own shape make the hostile files (text ids, a column
    missing or added)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as conn:
        for table in tables:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        conn.commit()
    return path


def insert_rows(path: Path, table: str, names: Sequence[str], rows: Iterable[Sequence[Any]],
                *, commit_each: bool = True) -> list[int]:
    """Insert rows of any SQLite values into existing columns ``names``; returns their rowids.

    ``commit_each`` commits after every row, like the PBX listener.
    """
    ids = []
    columns = ", ".join(names)
    with closing(sqlite3.connect(path)) as conn:
        for values in rows:
            marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, RawText) else "?" for v in values)
            cursor = conn.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                [bytes(v) if isinstance(v, RawText) else v for v in values],
            )
            if commit_each:
                conn.commit()
            ids.append(int(cursor.lastrowid or 0))
        conn.commit()
    return ids


def append(path: Path, rows: Iterable[Row], table: str = "APIlogs",
           ids: Sequence[int] | None = None) -> list[int]:
    """Append rows (one commit each, like the PBX listener); returns their ids.

    ``ids`` sets them explicitly (a damaged or hand-made file: ids <= 0, near 2**63).
    """
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({COLUMNS})")
        conn.commit()
    names: tuple[str, ...] = (*ROW_NAMES, "response", "responseTime")
    values: Iterable[Sequence[Any]] = (listen_ami.stored(row, "", 0.01) for row in rows)
    if ids is not None:
        names = ("id", *names)
        values = ((row_id, *rest) for row_id, rest in zip(ids, values, strict=True))
    return insert_rows(path, table, names, values)


def body(**fields: Any) -> str:
    """A request text: ``Token`` and ``fields`` only (a UniqueId only when among them)."""
    return listen_ami.encode(listen_ami.body(TOKEN, None, **fields))


def row(event: str, uid: str, at: str = "2025-07-03 10:00:00", status: Any = "<Response [200]>", **fields: Any) -> Row:
    """A well-formed row whose body carries UniqueId (except bridge_create/destroy)."""
    return listen_ami.row(at, event, uid, listen_ami.event_body(TOKEN, event, uid, **fields), status)


def hangup(uid: str, *, at: str = "2025-07-03 10:01:40", status: Any = "<Response [200]>",
           start: str = "2025-07-03 10:00:00", end: str = "2025-07-03 10:01:40",
           call_status: Any = "2", extensions: Any = ("201",), call_type: Any = 0,
           phone: Any = "+375291112233", trunk: Any = "trunk1", **extra: Any) -> Row:
    fields: dict[str, Any] = {
        "Phone": phone, "Extensions": list(extensions) if isinstance(extensions, tuple) else extensions,
        "CallType": call_type, "DateReceived": start, "StartTime": start, "EndTime": end,
        "CallStatus": call_status, **extra,
    }
    if trunk is not None:
        fields["Trunk"] = trunk
    return row("hangup", uid, at=at, status=status, **fields)


def source_row(id: int, event: Any, uid: Any, request: Any, at: Any = "2025-07-03 10:00:00",
               status: Any = "ok") -> SourceRow:
    return SourceRow(id, at, event, uid, request, status)
