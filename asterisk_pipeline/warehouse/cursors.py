"""Per (enterprise, file date, table) how far a file was read, and which file it was (SPEC §3).

``last_source_id`` is the highest *stored* source id fully processed. A file recreated under the
same name (ids starting again at 1) is a new generation: its ids are stored shifted by
``id_offset`` (the previous generation's last stored id), so the rows of both files keep distinct
source positions, and ``first_row``/``last_row`` (digests of the current file's first row and of
the row at the cursor) are what tells the next read that the file is not the one read before.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, select

from .schema import sync_cursors
from .upsert import dialect_insert


@dataclass(frozen=True)
class Cursor:
    last_source_id: int = 0
    id_offset: int = 0
    first_row: str | None = None
    last_row: str | None = None

    @property
    def file_last_id(self) -> int:
        """The cursor in the current file's own ids."""
        return self.last_source_id - self.id_offset

    def next_generation(self) -> Cursor:
        """The cursor for a file that replaced the one read so far: nothing of it read yet."""
        return Cursor(last_source_id=self.last_source_id, id_offset=self.last_source_id)


def read_cursor(conn: Connection, enterprise: str, file_date: date, table: str) -> Cursor:
    c = sync_cursors.c
    row = conn.execute(
        select(c.last_source_id, c.id_offset, c.first_row, c.last_row).where(
            c.enterprise_id == enterprise, c.file_date == file_date, c.source_table == table,
        )
    ).first()
    if row is None:
        return Cursor()
    return Cursor(int(row.last_source_id or 0), int(row.id_offset or 0), row.first_row, row.last_row)


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
