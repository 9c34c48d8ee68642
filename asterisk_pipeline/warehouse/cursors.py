"""Per (enterprise, file date, table) how far a file was read, and which file it was (SPEC §3).

``last_source_id`` is the highest *stored* source id fully processed. A file recreated under the
same name (ids starting again at 1) is a new generation: its ids are stored shifted by
``id_offset`` (the previous generation's last stored id), so the rows of both files keep distinct
source positions, and ``first_row``/``last_row`` (digests of the current file's first row and of
the row at the cursor) are what tells the next read that the file is not the one read before.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, select

from ..model import BEFORE_FIRST_ROW
from .schema import sync_cursors
from .upsert import dialect_insert


@dataclass(frozen=True)
class Cursor:
    last_source_id: int = BEFORE_FIRST_ROW
    id_offset: int = 0
    first_row: str | None = None
    last_row: str | None = None

    @property
    def generation_start(self) -> int:
        """The stored position just before the current file's rows: the first file's rows may
        hold any id (BEFORE_FIRST_ROW); a later generation's start above the earlier ones."""
        return self.id_offset if self.id_offset else BEFORE_FIRST_ROW

    @property
    def read_any(self) -> bool:
        """Whether any row of the current file was read."""
        return self.last_source_id > self.generation_start

    @property
    def file_last_id(self) -> int:
        """The cursor in the current file's own ids (BEFORE_FIRST_ROW when nothing was read)."""
        return self.last_source_id - self.id_offset if self.read_any else BEFORE_FIRST_ROW

    def next_generation(self) -> Cursor:
        """The cursor for a file that replaced the one read so far: nothing of it read yet,
        its ids (which must then be >= 1) stored above everything stored before."""
        offset = max(self.last_source_id, 1)
        return Cursor(last_source_id=offset, id_offset=offset)


def read_cursor(conn: Connection, enterprise: str, file_date: date, table: str) -> Cursor:
    return read_cursors(conn, enterprise, [file_date], table)[file_date]


def read_cursors(conn: Connection, enterprise: str, file_dates: Sequence[date], table: str) -> dict[date, Cursor]:
    """The cursors of several days' files in one statement (a live sync reads yesterday's and
    today's before it fetches); a day never read gets the empty cursor."""
    c = sync_cursors.c
    found = {day: Cursor() for day in file_dates}
    if not file_dates:
        return found
    rows = conn.execute(
        select(c.file_date, c.last_source_id, c.id_offset, c.first_row, c.last_row).where(
            c.enterprise_id == enterprise, c.file_date.in_(list(file_dates)), c.source_table == table,
        )
    )
    for row in rows:
        last = BEFORE_FIRST_ROW if row.last_source_id is None else int(row.last_source_id)
        found[row.file_date] = Cursor(last, int(row.id_offset or 0), row.first_row, row.last_row)
    return found


def save_cursor(conn: Connection, enterprise: str, file_date: date, table: str, cursor: Cursor) -> None:
    insert = dialect_insert(conn)
    now = datetime.now(UTC)
    values = {
        "last_source_id": cursor.last_source_id, "id_offset": cursor.id_offset,
        "first_row": cursor.first_row, "last_row": cursor.last_row,
    }
    statement = insert(sync_cursors).values(
        enterprise_id=enterprise, file_date=file_date, source_table=table, updated_at=now, **values,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["enterprise_id", "file_date", "source_table"],
            set_={**{k: getattr(statement.excluded, k) for k in values}, "updated_at": now},
        )
    )
