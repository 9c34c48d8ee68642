"""Live flow: one run per tick for the whole fleet, one materialization per enterprise.

A run per enterprise would be 288 runs a day each; instead one op runs the core's
``live_cycle`` (enterprises concurrently), reports ``live_calls`` per enterprise partition and
fails the run at the end if any enterprise failed. The schedule never starts a second live run
while one is queued or running (the run queue's tag limit in dagster.yaml backs this up).
"""

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from dagster import (
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

from .. import names
from ..settings import Settings
from ..sync import SyncOutcome, SyncRun, live_cycle
from .assets import OWNERS
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
    description="One live cycle over every active enterprise (core live_cycle).",
    tags=LIVE_TAGS,
    out={},
)
def live_sync(
    context: OpExecutionContext,
    config: LiveSyncConfig,
    warehouse: WarehouseResource,
    fleet: FleetResource,
) -> Iterator[AssetMaterialization]:
    """Materialize live_calls for each enterprise that synced; fail the run listing the rest."""
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
    failed: list[str] = []
    known = set(context.instance.get_dynamic_partitions(names.ENTERPRISES_PARTITIONS))
    for number, outcomes in sorted(per_enterprise.items()):
        bad = [o for o in outcomes if not o.ok]
        failed.extend(f"{number} {o.file_date}: {o.error_kind}: {o.error}" for o in bad)
        if bad:
            continue
        if number not in known:  # the sensor has not added it yet: synced, but nothing to attach to
            context.log.warning("enterprise %s is not an 'enterprises' partition yet", number)
            continue
        yield AssetMaterialization(
            asset_key=LIVE_CALLS, partition=number, metadata=_enterprise_metadata(outcomes)
        )
    context.log.info(
        "live cycle: %d enterprises, %d syncs, %d failed, %.2fs",
        len(per_enterprise),
        len(report.outcomes),
        len(report.failed),
        report.seconds,
    )
    if failed:
        raise Failure(
            description=f"live sync failed for {len(failed)} file(s) (recorded in download_sync/sync_runs)",
            metadata={"failed": MetadataValue.md("\n".join(f"- {f}" for f in failed))},
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
