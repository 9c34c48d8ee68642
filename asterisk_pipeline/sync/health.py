"""The fleet's health now (SPEC §4.8): evidence from the warehouse, status from the core's rules.

One function every shell calls (``fleet health`` in the CLI, ``GET /fleet/health``, ``/metrics``,
the live run's checks and alerts), so that they all show the same status for the same moment.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..fleet_health import Health, decide, local_day_start
from ..pbx.fleet import Fleet
from ..warehouse.fleet_health import fleet_evidence


def fleet_health(conn: Connection, fleet: Fleet, now: datetime | None = None) -> list[Health]:
    """Every active enterprise (by number), then every skipped ``enterprises`` row."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rules = fleet.settings.health_rules
    evidence = fleet_evidence(
        conn,
        day_start=lambda number: local_day_start(now, fleet.timezone(number)),
        zone_name=lambda number: str(fleet.timezone(number)),
    )
    return [decide(e, rules, now) for e in evidence]


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def health_record(health: Health) -> dict[str, Any]:
    """One enterprise's health as the CLI's ``--json`` and ``GET /fleet/health`` show it."""
    e = health.evidence
    share = e.rejected_share_today
    return {
        "enterprise_id": e.enterprise,
        "status": health.status,
        "reason": health.reason,
        "timezone": None if e.skipped_reason else e.timezone,
        "newest_event_at": _iso(e.newest_event_at),
        "newest_event_pbx_time": (
            e.newest_event_at.astimezone(ZoneInfo(e.timezone)).strftime("%Y-%m-%d %H:%M:%S")
            if e.newest_event_at is not None else None
        ),
        "last_successful_sync": _iso(e.last_success),
        "last_failed_sync": _iso(e.last_failure),
        "consecutive_failures": e.consecutive_failures,
        "failing_since": _iso(e.failing_since),
        "last_error_kind": e.last_error_kind,
        "last_error": e.last_error,
        "clock_offset_s": e.clock_offset_s,
        "rows_today": e.rows_today,
        "rejected_today": e.rejected_today,
        "rejected_share_today": None if share is None else round(share, 5),
    }
