"""Live flow: one run per tick for the whole fleet, one materialization per enterprise.

A run per enterprise would be 288 runs a day each; instead one op runs the core's
``live_cycle`` (enterprises concurrently), reports ``live_calls`` per enterprise partition with
a check per partition, and fails the run only when every enterprise failed (live_health.py). The schedule never starts a second live run
while one is queued or running (the run queue's tag limit in dagster.yaml backs this up).
"""

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    Config,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    job,
    op,
    schedule,
)
from pydantic import Field
from sqlalchemy import Engine

from .. import names
from ..settings import Settings
from ..sync import SyncOutcome, SyncRun, live_cycle
from .assets import OWNERS
from .live_health import (
    CENTRAL_KINDS,
    TAG_NUMBERS,
    CycleHealth,
    alert,
    assess,
    check_evaluations,
    failing_tag,
)
from .partitions import enterprises_partitions
from .resources import FleetResource, WarehouseResource

LIVE_CALLS = AssetKey(names.LIVE_CALLS)
LIVE_TAGS = {names.TAG_FLOW: names.FLOW_LIVE}
ACTIVE_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    # A run being canceled still holds the live tag's one slot: a new run would only queue.
    DagsterRunStatus.CANCELING,
]

live_calls_spec = AssetSpec(
    LIVE_CALLS,
    description="Calls and events read live (AlternativeAPIlogs, data_source='live'), per enterprise. "
    "Materialized by live_sync_job, never by the asset graph.",
    partitions_def=enterprises_partitions,
    kinds={"postgres", "ssh"},
    owners=OWNERS,
    group_name=names.GROUP_LIVE,
)


def _enterprise_metadata(outcomes: list[SyncOutcome]) -> dict[str, Any]:
    """Sums over the enterprise's files of this cycle (today, and yesterday around midnight)."""
    return {
        "files": MetadataValue.json([o.file_date for o in outcomes]),
        "status": "failed" if any(not o.ok for o in outcomes) else "success",
        "rows_read": sum(o.rows_read for o in outcomes),
        "new_calls": sum(o.new_calls for o in outcomes),
        "updated_calls": sum(o.updated_calls for o in outcomes),
        "new_events": sum(o.new_events for o in outcomes),
        "duplicates": sum(o.duplicates for o in outcomes),
        "rejected": sum(o.rejected for o in outcomes),
        "bytes_transferred": sum(o.bytes_transferred for o in outcomes),
        "seconds": round(sum(o.seconds for o in outcomes), 3),
    }


class LiveSyncConfig(Config):
    """Run config of the live sync (the REST sidecar sets it for ``POST /sync/live/{enterprise}``)."""

    enterprises: list[str] | None = Field(
        default=None, description="Only these enterprise numbers (default: every active one)"
    )


@op(
    name=names.LIVE_OP,
    description="One live cycle over every active enterprise (core live_cycle); a check per "
    "enterprise partition and alerts on changes of fleet health.",
    tags=LIVE_TAGS,
    out={},
)
def live_sync(
    context: OpExecutionContext,
    config: LiveSyncConfig,
    warehouse: WarehouseResource,
    fleet: FleetResource,
) -> Iterator[AssetMaterialization | AssetCheckEvaluation]:
    """Materialize live_calls for each enterprise that synced, report every enterprise's check,
    name the failing ones; fail the run only when every enterprise failed (live_health.py)."""
    with warehouse.engine() as engine:
        report = live_cycle(
            engine, fleet.fleet(), numbers=config.enterprises, run=SyncRun(
                dagster_run_id=context.run_id,
                on_enterprises=lambda numbers: context.instance.add_run_tags(
                    context.run_id, {names.TAG_COVERED: ",".join(numbers)}
                ),
            ),
        )
        per_enterprise: dict[str, list[SyncOutcome]] = defaultdict(list)
        for outcome in report.outcomes:
            per_enterprise[outcome.enterprise].append(outcome)
        failed = {n: o for n, o in per_enterprise.items() if any(not x.ok for x in o)}
        cycle = _assess(context, engine, fleet, failed)
    known = set(context.instance.get_dynamic_partitions(names.ENTERPRISES_PARTITIONS))
    failing = sorted(failed)
    for number, outcomes in sorted(per_enterprise.items()):
        if number in failed:
            continue
        if number not in known:  # the sensor has not added it yet: synced, but nothing to attach to
            context.log.warning("enterprise %s is not an 'enterprises' partition yet", number)
            continue
        metadata = {**_enterprise_metadata(outcomes), "failing_enterprises": MetadataValue.json(failing)}
        yield AssetMaterialization(asset_key=LIVE_CALLS, partition=number, metadata=metadata)
    yield from check_evaluations([n for n in sorted(per_enterprise) if n in known], cycle)
    _headline(context, report.outcomes, failed, len(per_enterprise), report.seconds)


def _assess(
    context: OpExecutionContext, engine: Engine, fleet: FleetResource, failed: dict[str, list[SyncOutcome]]
) -> CycleHealth:
    """The fleet's health after the cycle, and its alerts: neither may fail the run."""
    try:
        cycle = assess(engine, fleet, failed)
    except Exception as exc:  # noqa: BLE001 - the syncs are recorded; a health read must not undo the run
        context.log.error("fleet health could not be read: %s", exc)
        return CycleHealth(failed=failed, health={})
    try:
        sent = alert(engine, fleet, cycle)
        if sent.sent or sent.failed:
            context.log.info("alerts: sent %s, failed %s (retried next cycle)", sent.sent, sent.failed)
    except Exception as exc:  # noqa: BLE001 - an alert never fails the run
        context.log.error("alerts could not be sent (retried next cycle): %s", type(exc).__name__)
    return cycle


def _headline(
    context: OpExecutionContext, outcomes: list[SyncOutcome], failed: dict[str, list[SyncOutcome]],
    covered: int, seconds: float,
) -> None:
    """The log line and run tag naming the failing enterprises; Failure when all failed, or
    when a failure is the central side's own (live_health.CENTRAL_KINDS)."""
    failing = sorted(failed)
    lines = [f"{n} {o.file_date}: {o.error_kind}: {o.error}" for n in failing for o in failed[n] if not o.ok]
    context.log.info(
        "live cycle: %d enterprises, %d syncs, %d failed%s, %.2fs", covered, len(outcomes),
        len(failing), f" ({', '.join(failing)})" if failing else "", seconds,
    )
    if failing:
        context.instance.add_run_tags(context.run_id, {names.TAG_FAILING: failing_tag(failing)})
        context.log.warning("live sync failed for %s:\n%s", ", ".join(failing), "\n".join(lines))
    central = sorted({o.error_kind for n in failing for o in failed[n] if o.error_kind in CENTRAL_KINDS})
    if failing and (len(failing) == covered or central):
        why = (f"a central fault ({', '.join(k for k in central if k)})" if central
               else "every enterprise failed: most likely a central fault (network, SSH key)")
        raise Failure(
            description=f"live sync failed for {', '.join(failing[:TAG_NUMBERS])}: {why}; recorded in sync_runs",
            metadata={"failed": MetadataValue.md("\n".join(f"- {f}" for f in lines))},
        )


@job(name=names.LIVE_JOB, tags=LIVE_TAGS, description="One live cycle over the active fleet.")
def live_sync_job() -> None:
    live_sync()


def _skip_while_a_live_run_is_active(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """Never two live runs at once: the next tick catches up from the cursors anyway."""
    active = context.instance.get_run_records(
        RunsFilter(job_name=names.LIVE_JOB, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        return SkipReason(
            f"live run {active[0].dagster_run.run_id} is still {active[0].dagster_run.status.value}"
        )
    return RunRequest(tags=LIVE_TAGS)


def build_live_schedule(settings: Settings) -> ScheduleDefinition:
    """Every ``ASTERISK_LIVE_INTERVAL_MINUTES`` (a cron ``*/N`` step); ``ASTERISK_LIVE_SCHEDULE=off``
    starts it stopped (manual / REST-only setups)."""
    return schedule(
        name=names.LIVE_SCHEDULE,
        cron_schedule=f"*/{settings.live_interval_minutes} * * * *",
        job=live_sync_job,
        default_status=DefaultScheduleStatus.RUNNING
        if settings.live_schedule == "on"
        else DefaultScheduleStatus.STOPPED,
        description=f"Every {settings.live_interval_minutes} min (ASTERISK_LIVE_INTERVAL_MINUTES); "
        "skips while a live run is queued or running.",
    )(_skip_while_a_live_run_is_active)
