"""The one builder of Listen_AMI rows (SPEC §2.1, §2.2): tables, bodies, rows, files.

Why one: the simulator, the hand-built conversations of the tests (``tests/support/
conversations/shapes.py``) and the test factories (``tests/support/factories.py``) all write rows of the webhook-log
tables - ``(DateTime, event, Uniqueid, request, status)``, stored with ``response`` and
``responseTime`` - and they must agree with each other and with the PBX on what such a row is:
the table's DDL, the body's key order (``Token``, ``UniqueId``, then the event's fields; the
bridge_create/destroy bodies name no UniqueId), its JSON encoding (UTF-8 text, not ``\\u``
escapes) and the ``YYYY-MM-DD HH:MM:SS`` local time. Only the standard library is used.
"""
from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

#: A row as the listener logs it, before delivery details: DateTime, event, Uniqueid, request,
#: status (any of them may be anything in a damaged file, hence ``Any``).
Row = tuple[Any, Any, Any, Any, Any]
#: The columns of :data:`Row`, in order.
ROW_COLUMNS: tuple[str, ...] = ("DateTime", "event", "Uniqueid", "request", "status")
#: A row as stored: :data:`Row`, then the delivery's ``response`` and ``responseTime``.
StoredRow = tuple[Any, Any, Any, Any, Any, Any, Any]
#: The column list of a webhook-log table (the PBX's own DDL).
COLUMNS = (
    "id INTEGER PRIMARY KEY, DateTime, event, Uniqueid, request, status, response, responseTime"
)
#: Events whose body names a bridge, not a channel: no ``UniqueId`` key.
BRIDGE_EVENTS = frozenset({"bridge_create", "bridge_destroy"})
#: The PBX's local-time format of ``DateTime`` and of the body's times.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The three webhook-log tables of a Listen_AMI file (the third one is ignored by the pipeline).
ALL_API_TABLES: tuple[str, ...] = ("APIlogs", "AlternativeAPIlogs", "Alternative2APIlogs")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
API_DDL = "CREATE TABLE {name} (" + COLUMNS + ")"
INSERT = (
    "INSERT INTO {name} (DateTime, event, Uniqueid, request, status, response, responseTime) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_WITH_ID = (
    "INSERT INTO {name} (id, DateTime, event, Uniqueid, request, status, response, responseTime) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# One encoder for the hot path: identical output to json.dumps(obj, ensure_ascii=False) without
# building a new encoder per call.
encode = json.JSONEncoder(ensure_ascii=False).encode


@lru_cache(maxsize=16)
def day_timestamps(day: date) -> tuple[str, ...]:
    """All 86,400 ``'YYYY-MM-DD HH:MM:SS'`` strings of a day (formatting is the hot spot)."""
    prefix = day.isoformat() + " "
    return tuple(
        f"{prefix}{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
    )


def connect(path: Path) -> sqlite3.Connection:
    """Autocommit (one COMMIT per statement, as the listener), waiting for a locked file."""
    return sqlite3.connect(str(path), timeout=30.0, isolation_level=None)


def existing_tables(con: sqlite3.Connection) -> set[str]:
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def ensure_api_tables(con: sqlite3.Connection, tables: Iterable[str]) -> None:
    have = existing_tables(con)
    for name in tables:
        check_table(name)
        if name not in have:
            con.execute(API_DDL.format(name=name))


def check_table(name: str) -> None:
    if not _TABLE_NAME.match(name):
        raise ValueError(f"not a plain table name: {name!r}")


class Delivery(NamedTuple):
    """What a row's webhook delivery answered: ``response`` and ``responseTime`` (the pipeline
    never reads them)."""

    response: Any = ""
    response_time: Any = 0.0


#: The delivery of a hand-made row unless told: what the pipeline never reads.
UNREAD = Delivery()


def append_rows(
    path: Path, table: str, rows: Iterable[Row], *, ids: Sequence[int] | None = None,
    delivery: Delivery = UNREAD,
) -> list[int]:
    """Append hand-made rows, one COMMIT per row (as the listener does); returns their ids.

    Each row is stored with the ``delivery``'s ``response`` and ``responseTime`` (``''`` and
    ``0.0`` unless told); the table is created with the real DDL when missing. ``ids`` sets the
    ids explicitly (a damaged or hand-made file: ids <= 0, near 2**63).
    """
    check_table(table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    made: list[int] = []
    con = connect(path)
    try:
        ensure_api_tables(con, (table,))
        sql = (INSERT if ids is None else _INSERT_WITH_ID).format(name=table)
        keys: Iterable[tuple[int, ...]] = (
            itertools.repeat(()) if ids is None else ((row_id,) for row_id in ids))
        for key, item in zip(keys, rows, strict=ids is not None):
            cur = con.execute(sql, (*key, *stored(item, *delivery)))
            made.append(int(cur.lastrowid or 0))
    finally:
        con.close()
    return made


def timestamp(moment: datetime) -> str:
    """``DateTime`` of a row at a local (naive) moment."""
    return moment.strftime(TIME_FORMAT)


def body(token: str, uid: str | None, **fields: Any) -> dict[str, Any]:
    """A request body in the listener's key order: ``Token``, ``UniqueId`` (none when ``uid`` is
    None: the bridge_create/destroy bodies), then ``fields`` (a ``UniqueId`` among them wins)."""
    out: dict[str, Any] = {"Token": token} if uid is None else {"Token": token, "UniqueId": uid}
    out.update(fields)
    return out


def event_body(token: str, event: str, uid: str, **fields: Any) -> dict[str, Any]:
    """:func:`body` of an ``event``: every event but bridge_create/destroy names its UniqueId."""
    return body(token, None if event in BRIDGE_EVENTS else uid, **fields)


def row(at: Any, event: Any, uid: Any, request: Mapping[str, Any] | Any, status: Any) -> Row:
    """One row; a mapping ``request`` is encoded as the listener does, anything else is stored
    as it is (a raw text, ``None``, a damaged value)."""
    return (at, event, uid, encode(request) if isinstance(request, Mapping) else request, status)


def stored(row: Row, response: Any = "", response_time: Any = 0.0) -> StoredRow:
    """The row with its delivery details, in the table's column order."""
    return (*row, response, response_time)


def create_tables(path: Path, tables: Iterable[str] = ("APIlogs", "AlternativeAPIlogs")) -> Path:
    """A day file with the webhook-log ``tables`` (the PBX's DDL), created when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        ensure_api_tables(con, tables)
    finally:
        con.close()
    return path
