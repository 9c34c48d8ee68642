"""Truthful sync statistics: ``download_sync`` (one row per enterprise and host) and ``sync_runs``."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, select

from ..model import SyncCounts
from .schema import download_sync, sync_runs
from .upsert import dialect_insert


@dataclass(frozen=True)
class RunRecord:
    enterprise_id: str
    asterisk_host: str
    flow: str
    file_date: date | None
    source_table: str | None
    started_at: datetime
    finished_at: datetime
    status: str  # 'success' | 'failed'
    counts: SyncCounts = field(default_factory=SyncCounts)
    error_kind: str | None = None
    error: str | None = None
    dagster_run_id: str | None = None
    file_replaced: str | None = None

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def record_run(conn: Connection, run: RunRecord) -> None:
    """Append to ``sync_runs`` and fold the outcome into ``download_sync``: on PostgreSQL in one
    statement (the append as a data-modifying CTE of the upsert: one round trip per sync)."""
    appended = sync_runs.insert().values(
        enterprise_id=run.enterprise_id, asterisk_host=run.asterisk_host, flow=run.flow,
        file_date=run.file_date, source_table=run.source_table, started_at=run.started_at,
        finished_at=run.finished_at, **asdict(run.counts), duration_s=run.duration_s,
        status=run.status, error_kind=run.error_kind, error=run.error,
        dagster_run_id=run.dagster_run_id, file_replaced=run.file_replaced,
    )
    folded = _download_sync_upsert(conn, run)
    if conn.dialect.name == "postgresql":
        conn.execute(folded.add_cte(appended.cte("appended_run")))
    else:
        conn.execute(appended)
        conn.execute(folded)


def _download_sync_upsert(conn: Connection, run: RunRecord) -> Any:
    """The ``download_sync`` row of the run's enterprise and host with this outcome folded in."""
    now = datetime.now(UTC)
    ok = run.status == "success"
    insert = dialect_insert(conn)
    statement = insert(download_sync).values(
        enterprise_id=run.enterprise_id,
        asterisk_host=run.asterisk_host,
        last_check_timestamp=run.finished_at,
        last_successful_sync=run.finished_at if ok else None,
        last_failed_sync=None if ok else run.finished_at,
        total_downloaded_events=run.counts.rows_read,
        failed_events_count=run.counts.rejected,
        last_error_message=None if ok else run.error,
        updated_at=now,
    )
    table = download_sync.c
    changes: dict[str, object] = {
        "last_check_timestamp": statement.excluded.last_check_timestamp,
        "total_downloaded_events": table.total_downloaded_events + run.counts.rows_read,
        "failed_events_count": table.failed_events_count + run.counts.rejected,
        "updated_at": now,
    }
    if ok:
        changes["last_successful_sync"] = statement.excluded.last_successful_sync
        changes["last_error_message"] = None
    else:
        changes["last_failed_sync"] = statement.excluded.last_failed_sync
        changes["last_error_message"] = statement.excluded.last_error_message
    return statement.on_conflict_do_update(index_elements=["enterprise_id", "asterisk_host"], set_=changes)


def succeeded_since(conn: Connection, enterprise: str, flow: str, file_date: date, since: datetime) -> bool:
    """Whether a sync of this enterprise's file of ``file_date`` in ``flow`` succeeded that
    started at or after ``since`` (the live flow: was yesterday read in full after midnight)."""
    found = conn.execute(
        select(sync_runs.c.id).where(
            sync_runs.c.enterprise_id == enterprise,
            sync_runs.c.flow == flow,
            sync_runs.c.file_date == file_date,
            sync_runs.c.status == "success",
            sync_runs.c.started_at >= since,
        ).limit(1)
    ).first()
    return found is not None
