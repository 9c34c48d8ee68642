"""The status answers, put together from what the warehouse and Dagster say (no HTTP here).

Why plain functions: what ``/sync/live/status``, ``/sync/live/today`` and ``/sync/status``
answer is decided here — which calls are counted, which enterprises are listed, which Dagster
runs are syncs — and is tested on a real warehouse without a server (tests/api/test_status.py).
The routers only fetch the inputs and cache the answers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..names import ALL_ENTERPRISES, FLOW_CHECKS, TAG_ENTERPRISES, TAG_FLOW
from . import queries
from .dagster_client import BackfillInfo, RunInfo
from .models import (
    BreakdownRow,
    DataSource,
    DownloadSyncRow,
    LiveStatus,
    LiveToday,
    RunningSync,
    SyncStatus,
    TodayRow,
)

#: The tag Dagster puts on the runs of a backfill.
BACKFILL_TAG = "dagster/backfill"


def newest(last: Mapping[str, datetime | None]) -> datetime | None:
    """The newest of the enterprises' last successful syncs (None: none ever succeeded)."""
    return max((t for t in last.values() if t), default=None)


def live_status(conn: Connection, auto_sync_interval: int) -> LiveStatus:
    """Calls per data source and per enterprise, and the newest successful live sync."""
    return LiveStatus(
        data_sources=[DataSource.model_validate(r) for r in queries.data_sources(conn)],
        enterprise_breakdown=[BreakdownRow.model_validate(r) for r in queries.enterprise_breakdown(conn)],
        auto_sync_interval=auto_sync_interval,
        last_live_sync=newest(queries.last_success_by_enterprise(conn, "live")),
    )


def live_today(day: date, zone: ZoneInfo, active: Iterable[str], counts: Mapping[str, int]) -> LiveToday:
    """Live calls that started on the PBX day ``day``: every active enterprise (0 when it had
    none) and every enterprise that had calls (an inactive one keeps its count)."""
    rows = [TodayRow(enterprise_id=n, count=counts.get(n, 0)) for n in sorted(set(active) | set(counts))]
    return LiveToday(date=day, timezone=str(zone), live_calls=sum(counts.values()), by_enterprise=rows)


def today_inputs(conn: Connection, day: date, zone: ZoneInfo) -> tuple[list[str], dict[str, int]]:
    """The active enterprises and their live calls of the PBX day ``day`` (what live_today needs)."""
    start, end = queries.local_day_bounds(day, zone)
    return ([e.number for e in queries.active_enterprises(conn)], queries.live_calls_between(conn, start, end))


def running_syncs(runs: Iterable[RunInfo], backfills: Iterable[BackfillInfo],
                  run_url: Callable[[str], str], backfill_url: Callable[[str], str]) -> list[RunningSync]:
    """Our queued/running runs, and the backfills Dagster holds as requested: a backfill has no
    run until the daemon's next tick (~30 s), yet a new request for it already gets 409. Runs
    without our flow tag (nor a backfill's) are someone else's; the warehouse checks' scheduled
    run carries the flow tag but is no sync."""
    found = []
    for run in runs:
        if TAG_FLOW not in run.tags and BACKFILL_TAG not in run.tags:
            continue
        if run.tags.get(TAG_FLOW) == FLOW_CHECKS:
            continue
        found.append(RunningSync(kind="backfill run" if run.tags.get(BACKFILL_TAG) else "run", id=run.run_id,
                                 flow=run.tags.get(TAG_FLOW), status=run.status,
                                 enterprises=run.tags.get(TAG_ENTERPRISES, ALL_ENTERPRISES),
                                 dagster_url=run_url(run.run_id)))
    for requested in backfills:
        if TAG_FLOW not in requested.tags:
            continue
        found.append(RunningSync(kind="backfill", id=requested.backfill_id, flow=requested.tags.get(TAG_FLOW),
                                 status=requested.status,
                                 enterprises=requested.tags.get(TAG_ENTERPRISES, ALL_ENTERPRISES),
                                 dagster_url=backfill_url(requested.backfill_id)))
    return found


def sync_status(rows: Iterable[Mapping[str, object]], running: list[RunningSync] | None, dagster: str) -> SyncStatus:
    """The ``download_sync`` rows and what Dagster says is running (None: it did not answer)."""
    return SyncStatus(sync_status=[DownloadSyncRow.model_validate(r) for r in rows], running=running,
                      dagster=dagster)
