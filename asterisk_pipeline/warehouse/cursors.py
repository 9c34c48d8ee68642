"""Per (enterprise, file date, table) the highest source id fully processed (SPEC §3)."""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Connection, select

from .schema import sync_cursors
from .upsert import dialect_insert


def read_cursor(conn: Connection, enterprise: str, file_date: date, table: str) -> int:
    value = conn.execute(
        select(sync_cursors.c.last_source_id).where(
            sync_cursors.c.enterprise_id == enterprise,
            sync_cursors.c.file_date == file_date,
            sync_cursors.c.source_table == table,
        )
    ).scalar()
    return int(value or 0)


def save_cursor(conn: Connection, enterprise: str, file_date: date, table: str, last_id: int) -> None:
    insert = dialect_insert(conn)
    now = datetime.now(UTC)
    statement = insert(sync_cursors).values(
        enterprise_id=enterprise, file_date=file_date, source_table=table,
        last_source_id=last_id, updated_at=now,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["enterprise_id", "file_date", "source_table"],
            set_={"last_source_id": statement.excluded.last_source_id, "updated_at": now},
        )
    )
