"""Asset checks on the warehouse: integrity, rejected share, live freshness."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    asset_check,
    define_asset_job,
)

from .. import names
from ..settings import Settings
from . import quality
from .assets import CALL_EVENTS, CALL_PARTICIPANTS, CALLS
from .live import LIVE_CALLS
from .missed import missed_calls_followed_up
from .resources import QualityThresholds, WarehouseResource

SYNC_STATISTICS = AssetKey(names.SYNC_STATISTICS)


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
    asset=CALLS,
    description="Calls whose start or end time is unknown (missing, malformed or implausible — more "
    "than a day off its file's date — in the PBX's rows) stay under max_rejected_share; their raw "
    "times are kept in raw_data.",
)
def calls_have_times(
    warehouse: WarehouseResource, quality_thresholds: QualityThresholds
) -> AssetCheckResult:
    threshold = quality_thresholds.max_rejected_share
    with warehouse.engine() as engine, engine.connect() as conn:
        found = quality.calls_without_times(conn)
    unknown = max(found.without_start, found.without_end)
    return AssetCheckResult(
        passed=unknown <= threshold * found.calls,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "calls_without_start_time": found.without_start,
            "calls_without_end_time": found.without_end,
            "calls": found.calls,
            "threshold": threshold,
        },
    )


@asset_check(
    asset=CALL_EVENTS, description="Rejected source rows stay under max_rejected_share of the quality_thresholds "
    "resource (ASTERISK_MAX_REJECTED_SHARE, default 0.05)."
)
def rejected_share_under_threshold(
    warehouse: WarehouseResource, quality_thresholds: QualityThresholds
) -> AssetCheckResult:
    threshold = quality_thresholds.max_rejected_share
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


# On sync_statistics, which the checks job materializes in the same run: on live_calls (a
# materialization a minute, a check every 15) the UI showed "Not evaluated" nearly always. The
# live run reports each enterprise's own health on live_calls (live_sync_healthy, per partition).
@asset_check(
    asset=SYNC_STATISTICS,
    description="Every active enterprise synced live successfully within "
    "live_freshness_minutes of the quality_thresholds resource (ASTERISK_LIVE_FRESHNESS_MINUTES, "
    "default 15). Evaluated with the sync_statistics it rides along with, every checks run.",
)
def live_freshness(
    warehouse: WarehouseResource, quality_thresholds: QualityThresholds
) -> AssetCheckResult:
    max_age = quality_thresholds.live_max_age
    with warehouse.engine() as engine, engine.connect() as conn:
        stale = quality.stale_live_enterprises(conn, max_age)
    return AssetCheckResult(
        passed=not stale,
        metadata={
            "max_age_minutes": max_age.total_seconds() / 60,
            "stale": {n: (w.isoformat() if w else "never") for n, w in sorted(stale.items())},
        },
    )


@asset_check(
    asset=LIVE_CALLS,
    description="Every active enterprises row has a safe number (SPEC §3: 1-32 of A-Z a-z 0-9 _ -); "
    "a row that has not is skipped by every sync and listed here (escaped, truncated).",
)
def enterprise_numbers_valid(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.engine() as engine, engine.connect() as conn:
        skipped = quality.skipped_enterprises(conn)
    return AssetCheckResult(
        passed=not skipped,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "skipped_rows": len(skipped),
            "skipped": [{"number": s.number, "reason": s.reason} for s in skipped[:20]],
        },
    )


ALL_CHECKS = [
    unlinked_forwarding_legs,
    unique_call_ids,
    answered_calls_have_answered_participant,
    participants_reference_calls,
    events_reference_calls,
    rejected_share_under_threshold,
    calls_have_times,
    live_freshness,
    enterprise_numbers_valid,
    missed_calls_followed_up,
]


# The history op reports materializations per partition (skippable outputs), so checks placed in
# the same run would be skipped: they run in their own job, on a schedule and from the UI.
warehouse_checks_job = define_asset_job(
    names.CHECKS_JOB,
    # sync_statistics rides along: nothing else materializes it, and its figures age like the checks
    selection=AssetSelection.checks(*ALL_CHECKS) | AssetSelection.assets(names.SYNC_STATISTICS),
    description="Every warehouse check (integrity, rejected share, live freshness) and the"
    " sync_statistics headline figures.",
    tags={names.TAG_FLOW: names.FLOW_CHECKS},
)


def build_checks_schedule(settings: Settings) -> ScheduleDefinition:
    """Every ``ASTERISK_CHECKS_CRON`` (default every 15 minutes, like the live freshness window)."""
    return ScheduleDefinition(
        name=names.CHECKS_SCHEDULE,
        job=warehouse_checks_job,
        cron_schedule=settings.checks_cron,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Runs the warehouse checks; a failing check shows on its asset.",
    )
