"""The sidecar's reads of the warehouse: small, index-backed queries, one job each.

Every function takes an open connection and returns plain data ready for JSON. Times are
returned as aware UTC datetimes (the schema's ``UtcTime`` columns read them so on both databases).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select, text

from ..pbx.files import file_name
from ..warehouse.registry import is_valid_number
from ..warehouse.schema import calls, download_sync, enterprises, sync_runs

#: Sync-run rows newer than this many ids are counted into the change marker (see change_marker);
#: a commit later than that is still seen within the cache's max age (60 s).
_MARKER_WINDOW = 1_000


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1")).scalar_one()


def change_marker(conn: Connection) -> tuple[int, int]:
    """Changes whenever an import commits: every import writes a ``sync_runs`` row in its own
    transaction. The count over the newest ids also catches a transaction that took its id
    before a later one but committed after it. Two index probes."""
    newest = conn.execute(select(func.max(sync_runs.c.id))).scalar_one()
    if newest is None:
        return (0, 0)
    recent = conn.execute(
        select(func.count()).select_from(sync_runs).where(sync_runs.c.id > newest - _MARKER_WINDOW)
    ).scalar_one()
    return (int(newest), int(recent))


@dataclass(frozen=True)
class EnterpriseRow:
    number: str
    name: str | None
    host: str | None
    ip: str | None
    token: str | None
    has_secret: bool


def active_enterprises(conn: Connection) -> list[EnterpriseRow]:
    """``is_enabled AND active``, by number; the secret itself is never read."""
    rows = conn.execute(
        select(
            enterprises.c.number, enterprises.c.name, enterprises.c.host, enterprises.c.ip,
            enterprises.c.name2, (enterprises.c.secret.is_not(None) & (enterprises.c.secret != "")),
        )
        .where(and_(enterprises.c.is_enabled, enterprises.c.active))
        .order_by(enterprises.c.number)
    ).all()
    # an unsafe number (SPEC §3) is never a partition key or a target: registry logs and reports it
    return [EnterpriseRow(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows if is_valid_number(r[0])]


def data_sources(conn: Connection) -> list[dict[str, Any]]:
    """Calls per data source with the first and last call (index on data_source, start_time)."""
    rows = conn.execute(
        select(
            calls.c.data_source, func.count(), func.min(calls.c.start_time), func.max(calls.c.start_time)
        ).group_by(calls.c.data_source).order_by(calls.c.data_source)
    ).all()
    return [
        {"data_source": r[0], "total_calls": int(r[1]), "first_call": r[2], "last_call": r[3]}
        for r in rows
    ]


def enterprise_breakdown(conn: Connection) -> list[dict[str, Any]]:
    """Calls per enterprise and data source (index on enterprise_id, data_source, start_time)."""
    rows = conn.execute(
        select(calls.c.enterprise_id, calls.c.data_source, func.count())
        .group_by(calls.c.enterprise_id, calls.c.data_source)
        .order_by(calls.c.enterprise_id, calls.c.data_source)
    ).all()
    return [{"enterprise_id": r[0], "data_source": r[1], "count": int(r[2])} for r in rows]


def live_calls_between(conn: Connection, start: datetime, end: datetime) -> dict[str, int]:
    """Live calls that started in [start, end), per enterprise."""
    rows = conn.execute(
        select(calls.c.enterprise_id, func.count())
        .where(calls.c.data_source == "live", calls.c.start_time >= start, calls.c.start_time < end)
        .group_by(calls.c.enterprise_id)
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of a PBX-local day, in UTC (DST-safe)."""
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def download_sync_rows(conn: Connection) -> list[dict[str, Any]]:
    """The ``download_sync`` table with the legacy key names (one row per enterprise and host)."""
    rows = conn.execute(
        select(
            download_sync.c.enterprise_id, download_sync.c.asterisk_host,
            download_sync.c.last_successful_sync, download_sync.c.last_failed_sync,
            download_sync.c.last_check_timestamp, download_sync.c.total_downloaded_events,
            download_sync.c.failed_events_count, download_sync.c.last_error_message,
        ).order_by(download_sync.c.enterprise_id, download_sync.c.asterisk_host)
    ).all()
    out = []
    for r in rows:
        success, failure = r[2], r[3]
        failing = failure is not None and (success is None or failure > success)
        out.append({
            "enterprise_id": r[0],
            "asterisk_host": r[1],
            "last_sync": success,
            "last_failed_sync": failure,
            "last_check": r[4],
            "total_downloaded": int(r[5]),
            "failed_events": int(r[6]),
            "last_error": r[7] if failing else None,
            "status": "failing" if failing else ("ok" if success else "never"),
        })
    return out


def last_success_by_enterprise(conn: Connection, flow: str) -> dict[str, datetime | None]:
    """Newest successful sync of ``flow`` for every active enterprise: one index probe each
    (sync_runs enterprise_id, flow, status, finished_at), not a scan of the run history."""
    newest = (
        select(func.max(sync_runs.c.finished_at))
        .where(sync_runs.c.enterprise_id == enterprises.c.number, sync_runs.c.flow == flow,
               sync_runs.c.status == "success")
        .scalar_subquery()
    )
    rows = conn.execute(
        select(enterprises.c.number, newest)
        .where(and_(enterprises.c.is_enabled, enterprises.c.active))
        .order_by(enterprises.c.number)
    ).all()
    return {r[0]: r[1] for r in rows if is_valid_number(r[0])}  # the active set, as synced


def sync_counts(conn: Connection) -> list[tuple[str, str, str, int]]:
    """(enterprise, flow, status, runs) over the whole run history: for /metrics, cached."""
    rows = conn.execute(
        select(sync_runs.c.enterprise_id, sync_runs.c.flow, sync_runs.c.status, func.count())
        .group_by(sync_runs.c.enterprise_id, sync_runs.c.flow, sync_runs.c.status)
    ).all()
    return [(r[0], r[1], r[2], int(r[3])) for r in rows]


def run_statistics(conn: Connection, run_ids: list[str], run_failed: bool = False) -> dict[str, Any]:
    """What the syncs of some Dagster runs did (every sync_runs row written in a run carries its
    id, failures included). ``run_failed``: Dagster says a run failed; when no sync of it failed,
    the failure is the run's own (it crashed around the syncs) and is listed as kind ``run``, so
    the counts never say "no failures" for a failed run."""
    if not run_ids:
        return {"day_syncs": 0}
    c = sync_runs.c
    rows = conn.execute(
        select(
            c.enterprise_id, c.file_date, c.status,
            c.rows_read, c.new_calls, c.updated_calls, c.new_events, c.duplicates, c.rejected,
            c.bytes_transferred, c.error_kind, c.error, c.flow, c.source_table, c.file_replaced,
        ).where(c.dagster_run_id.in_(run_ids)).order_by(c.id)
    ).all()
    totals = {k: 0 for k in ("rows_read", "new_calls", "updated_calls", "new_events",
                             "duplicates", "rejected", "bytes_transferred")}
    failures: list[dict[str, Any]] = []
    replaced: list[dict[str, Any]] = []
    for r in rows:
        for index, key in enumerate(totals, start=3):
            totals[key] += int(r[index] or 0)
        where = {"enterprise_id": r[0], "flow": r[12], "file_date": str(r[1]) if r[1] else None,
                 "file": file_name(r[1]) if r[1] else None, "table": r[13]}
        if r[2] != "success":
            failures.append({**where, "error_kind": r[10], "error": r[11]})
        if r[14]:
            replaced.append({**where, "reason": r[14]})
    if run_failed and not failures:
        failures.append({"enterprise_id": None, "flow": None, "file_date": None, "file": None,
                         "table": None, "error_kind": "run",
                         "error": "the Dagster run failed outside any sync (see its log in the Dagster UI)"})
    return {"day_syncs": len(rows), "failed_syncs": len(failures), **totals,
            "enterprises": sorted({r[0] for r in rows}), "failures": failures[:50],
            "replaced_files": replaced[:50]}
