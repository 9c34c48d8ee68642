"""Asset checks on the warehouse: integrity, rejected share, live freshness."""

import os
from datetime import timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    asset_check,
    define_asset_job,
)

from . import quality
from .assets import CALL_EVENTS, CALL_PARTICIPANTS, CALLS
from .live import LIVE_CALLS
from .resources import WarehouseResource


def max_rejected_share() -> float:
    """``ASTERISK_MAX_REJECTED_SHARE`` (0–1, default 0.05)."""
    return float(os.environ.get("ASTERISK_MAX_REJECTED_SHARE", "0.05"))


def live_max_age() -> timedelta:
    """``ASTERISK_LIVE_FRESHNESS_MINUTES`` (default 15)."""
    return timedelta(minutes=float(os.environ.get("ASTERISK_LIVE_FRESHNESS_MINUTES", "15")))


@asset_check(asset=CALLS, description="No UniqueId is held by two calls.")
def unique_call_ids(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.engine() as engine, engine.connect() as conn:
        total, sample = quality.duplicate_call_ids(conn)
    return AssetCheckResult(
        passed=total == 0, metadata={"duplicate_unique_ids": total, "sample": sample}
    )


@asset_check(
    asset=CALL_PARTICIPANTS,
    description="Every answered call has an answered participant, unless its hangup lists no "
    "extension (SPEC §4.4: those are only counted).",
)
def answered_calls_have_answered_participant(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.engine() as engine, engine.connect() as conn:
        found = quality.answered_without_participant(conn)
    return AssetCheckResult(
        passed=found.violations == 0,
        metadata={
            "answered_without_participant": found.violations,
            "answered_hangup_without_extension": found.hangup_lists_no_extension,
            "sample": found.sample,
        },
    )


@asset_check(
    asset=CALLS,
    description="Forwarding legs no call could claim (SPEC §4.2 rule 3: zero or several open calls "
    "ring the target) stay under 1 % of calls; they are stored in call_legs with call_id NULL.",
)
def unlinked_forwarding_legs(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.engine() as engine, engine.connect() as conn:
        found = quality.unlinked_forwarding_legs(conn)
    return AssetCheckResult(
        passed=found.share <= 0.01,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "unlinked_forwarding_legs": found.legs,
            "calls": found.calls,
            "share": round(found.share, 4),
            "sample": found.sample,
        },
    )


@asset_check(asset=CALL_PARTICIPANTS, description="No participant points at a missing call.")
def participants_reference_calls(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.engine() as engine, engine.connect() as conn:
        total = quality.orphan_participants(conn)
    return AssetCheckResult(passed=total == 0, metadata={"orphan_participants": total})


@asset_check(asset=CALL_EVENTS, description="No event is linked to a missing call.")
def events_reference_calls(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.engine() as engine, engine.connect() as conn:
        total = quality.orphan_events(conn)
    return AssetCheckResult(passed=total == 0, metadata={"orphan_events": total})


@asset_check(
    asset=CALL_EVENTS, description="Rejected source rows stay under ASTERISK_MAX_REJECTED_SHARE."
)
def rejected_share_under_threshold(warehouse: WarehouseResource) -> AssetCheckResult:
    threshold = max_rejected_share()
    with warehouse.engine() as engine, engine.connect() as conn:
        figures = quality.rejected_share(conn)
    return AssetCheckResult(
        passed=figures.share <= threshold,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rejected": figures.rejected,
            "events": figures.events,
            "rejected_share": round(figures.share, 5),
            "threshold": threshold,
        },
    )


@asset_check(
    asset=LIVE_CALLS,
    description="Every active enterprise synced live successfully within "
    "ASTERISK_LIVE_FRESHNESS_MINUTES (default 15).",
)
def live_freshness(warehouse: WarehouseResource) -> AssetCheckResult:
    max_age = live_max_age()
    with warehouse.engine() as engine, engine.connect() as conn:
        stale = quality.stale_live_enterprises(conn, max_age)
    return AssetCheckResult(
        passed=not stale,
        metadata={
            "max_age_minutes": max_age.total_seconds() / 60,
            "stale": {n: (w.isoformat() if w else "never") for n, w in sorted(stale.items())},
        },
    )


ALL_CHECKS = [
    unlinked_forwarding_legs,
    unique_call_ids,
    answered_calls_have_answered_participant,
    participants_reference_calls,
    events_reference_calls,
    rejected_share_under_threshold,
    live_freshness,
]


# The history op reports materializations per partition (skippable outputs), so checks placed in
# the same run would be skipped: they run in their own job, on a schedule and from the UI.
warehouse_checks_job = define_asset_job(
    "warehouse_checks_job",
    selection=AssetSelection.checks(*ALL_CHECKS),
    description="Every warehouse check (integrity, rejected share, live freshness).",
    tags={"asterisk/flow": "checks"},
)


def checks_cron() -> str:
    """``ASTERISK_CHECKS_CRON`` (default every 15 minutes, like the live freshness window)."""
    return os.environ.get("ASTERISK_CHECKS_CRON", "*/15 * * * *")


warehouse_checks_schedule = ScheduleDefinition(
    name="warehouse_checks_schedule",
    job=warehouse_checks_job,
    cron_schedule=checks_cron(),
    default_status=DefaultScheduleStatus.RUNNING,
    description="Runs the warehouse checks; a failing check shows on its asset.",
)
