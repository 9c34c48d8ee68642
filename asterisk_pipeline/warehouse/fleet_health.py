"""Fleet-health evidence (SPEC §4.8) from what the warehouse records, and the PBX clocks.

Storage verbs only: every figure is an index probe per enterprise, written as correlated
subqueries of one SELECT over the active ``enterprises`` rows — sync_runs (enterprise_id, flow,
status, finished_at) for the last success, last failure, the failures since and the last error;
sync_runs (enterprise_id, started_at) for today's rows; call_events and event_sightings
(enterprise_id, event_timestamp) for the newest event (the newer of the two: an event's own row
and its other sightings). No scan of the run history, whatever its length.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, ScalarSelect, and_, case, func, or_, select

from ..fleet_health import Evidence
from ..model import CONVERSATION_TYPES, Flow
from .registry import active_enterprises, skipped_enterprises
from .schema import call_events, enterprises, event_sightings, pbx_clocks, sync_runs
from .upsert import dialect_insert

_LIVE = Flow.LIVE.value


def _runs(status: str, runs: Any = sync_runs) -> Any:
    return and_(
        runs.c.enterprise_id == enterprises.c.number, runs.c.flow == _LIVE, runs.c.status == status,
    )


def _scalar(column: Any, *where: Any) -> ScalarSelect[Any]:
    return select(column).where(*where).correlate(enterprises).scalar_subquery()


def _newest_failed(column: Any) -> ScalarSelect[Any]:
    return (
        select(column).where(_runs("failed")).correlate(enterprises)
        .order_by(sync_runs.c.finished_at.desc()).limit(1).scalar_subquery()
    )


def _last_success() -> ScalarSelect[Any]:
    success = sync_runs.alias("success")
    return _scalar(func.max(success.c.finished_at), _runs("success", success))


def _newest_event() -> Any:
    """The newest time a conversation's row was read at: of the events' own rows (those a
    conversation reads) and of the other sightings."""
    own = _scalar(
        func.max(call_events.c.event_timestamp), call_events.c.enterprise_id == enterprises.c.number,
        call_events.c.unique_id != "", call_events.c.event_type.in_(sorted(CONVERSATION_TYPES)),
    )
    other = _scalar(func.max(event_sightings.c.event_timestamp),
                    event_sightings.c.enterprise_id == enterprises.c.number)
    return case((or_(other.is_(None), own >= other), own), else_=other)


def evidence_query() -> Any:
    # the failures since the last success: their own alias, the last success correlated to the
    # enterprise only (one probe each on the (enterprise_id, flow, status, finished_at) index)
    failed = sync_runs.alias("failed")
    last_success = _last_success()
    after_success = or_(last_success.is_(None), failed.c.finished_at > last_success)
    return (
        select(
            enterprises.c.number,
            _newest_event().label("newest_event"),
            _last_success().label("last_success"),
            _scalar(func.max(sync_runs.c.finished_at), _runs("failed")).label("last_failure"),
            _scalar(func.count(), _runs("failed", failed), after_success).label("failures"),
            _scalar(func.min(failed.c.finished_at), _runs("failed", failed), after_success).label("since"),
            _newest_failed(sync_runs.c.error_kind).label("error_kind"),
            _newest_failed(sync_runs.c.error).label("error"),
            _scalar(pbx_clocks.c.offset_s, pbx_clocks.c.enterprise_id == enterprises.c.number).label("offset"),
        )
        .where(and_(enterprises.c.is_enabled, enterprises.c.active))
        .order_by(enterprises.c.number)
    )


def _today(conn: Connection, numbers: list[str], day_start: datetime) -> dict[str, tuple[int, int]]:
    """(rows read, rejected) of the live syncs started since ``day_start``, per enterprise."""
    rows = conn.execute(
        select(sync_runs.c.enterprise_id, func.sum(sync_runs.c.rows_read), func.sum(sync_runs.c.rejected))
        .where(sync_runs.c.enterprise_id.in_(numbers), sync_runs.c.started_at >= day_start,
               sync_runs.c.flow == _LIVE)
        .group_by(sync_runs.c.enterprise_id)
    ).all()
    return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in rows}


def _today_by_zone(conn: Connection, numbers: list[str], day_start: Callable[[str], datetime]) -> dict[str, tuple[int, int]]:
    """Enterprises grouped by the start of their PBX day (a fleet has one or a few zones)."""
    groups: dict[datetime, list[str]] = defaultdict(list)
    for number in numbers:
        groups[day_start(number)].append(number)
    found: dict[str, tuple[int, int]] = {}
    for start, members in groups.items():
        found.update(_today(conn, members, start))
    return found


def fleet_evidence(
    conn: Connection, day_start: Callable[[str], datetime], zone_name: Callable[[str], str],
) -> list[Evidence]:
    """The evidence of every active enterprise (by number), then every skipped row (§3).

    ``day_start(number)`` is the start of today on that PBX (UTC), ``zone_name`` its time zone."""
    valid = {e.number for e in active_enterprises(conn)}
    rows = [r for r in conn.execute(evidence_query()).all() if r.number in valid]
    today = _today_by_zone(conn, [r.number for r in rows], day_start)
    found = [_evidence(r._mapping, today.get(r.number, (0, 0)), zone_name(r.number)) for r in rows]
    found.extend(Evidence(enterprise=s.number, skipped_reason=s.reason) for s in skipped_enterprises(conn))
    return found


def _evidence(row: RowMapping, today: tuple[int, int], zone: str) -> Evidence:
    return Evidence(
        enterprise=row["number"], timezone=zone, newest_event_at=row["newest_event"],
        last_success=row["last_success"], last_failure=row["last_failure"],
        consecutive_failures=int(row["failures"] or 0), failing_since=row["since"],
        last_error_kind=row["error_kind"], last_error=row["error"],
        clock_offset_s=row["offset"], rows_today=today[0], rejected_today=today[1],
    )


def record_clock(conn: Connection, enterprise: str, offset_s: float, measured_at: datetime) -> None:
    """Keep the newest measurement of the PBX clock's offset (PBX minus central, seconds)."""
    insert = dialect_insert(conn)
    statement = insert(pbx_clocks).values(enterprise_id=enterprise, offset_s=offset_s, measured_at=measured_at)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["enterprise_id"],
        set_={"offset_s": statement.excluded.offset_s, "measured_at": statement.excluded.measured_at},
    ))
