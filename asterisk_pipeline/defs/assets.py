"""History assets: PBX day files → calls / participants / events, and the sync statistics.

One multi-asset does the history sync, because one core call (``sync_history_day``) writes all
of calls, call_participants and call_events at once; the specs' deps draw the lineage
PBX day files → calls / participants / events. No IO manager: the core writes the warehouse and
the assets only report metadata.

Bookkeeping per (date, enterprise) partition is what a backfill pays Dagster for: every
materialized spec costs one "materialization planned" event when the run is created and one
materialization when the day lands (each a write to the run's and the index's SQLite file on
the embedded instance). ``pbx_day_files`` is therefore an external asset — the PBX writes those
files, the pipeline only reads them — drawn in the lineage but not materialized: 6 events per
partition instead of 8 (benchmarks/dagster_event_cost.py measures each layout), while calls,
participants and events keep their per-day status (materialized / failed / in progress).
"""

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    MultiPartitionKey,
    asset,
    multi_asset,
)
from pydantic import Field
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from .. import names
from ..model import SHAPES, Enterprise
from ..pbx.fleet import Fleet
from ..settings import Settings
from ..sync import SyncOutcome, SyncRun, sync_history_day
from ..warehouse.db import retry_database
from ..warehouse.registry import get_enterprise
from ..warehouse.schema import download_sync
from ..warehouse.stats import (
    UNKNOWN_SHAPE,
    CallStats,
    DayRange,
    StatsScope,
    call_stats,
    shape_stats,
)
from .partitions import history_partitions
from .resources import FleetResource, WarehouseResource

OWNERS = list(names.OWNERS)

PBX_DAY_FILES = AssetKey(names.PBX_DAY_FILES)
CALLS = AssetKey(names.CALLS)
CALL_PARTICIPANTS = AssetKey(names.CALL_PARTICIPANTS)
CALL_EVENTS = AssetKey(names.CALL_EVENTS)
#: What the history sync materializes per (date, enterprise): the three warehouse tables.
HISTORY_KEYS = tuple(AssetKey(name) for name in names.HISTORY_ASSETS)
#: How long a history run waits for the database to come back before failing a day.
DATABASE_WAIT_S = 30.0


class HistorySyncConfig(Config):
    """Run config of the history sync."""

    force: bool = Field(
        default=False, description="Re-read every row of the day files (ignore cursors)"
    )


#: The PBXes' day files: external (the PBX writes them), the upstream of every history asset.
pbx_day_files_spec = AssetSpec(
    PBX_DAY_FILES,
    description=(
        "Listen_AMI_<date>.db day files of each PBX (APIlogs), written by the PBX; the history "
        "sync copies, verifies and caches them under $ASTERISK_HOME/cache. Not materialized by "
        "Dagster (6 instead of 8 bookkeeping events per partition): the per-day status is on "
        "calls, call_participants and call_events."
    ),
    kinds={"sqlite", "ssh"},
    owners=OWNERS,
    group_name=names.GROUP_HISTORY,
)

# (key, description) of the assets one history sync writes, all downstream of the day files.
_HISTORY_ASSETS: list[tuple[AssetKey, str]] = [
    (CALLS, "Calls rebuilt from the day's events (data_source='downloaded')."),
    (CALL_PARTICIPANTS, "Extensions that rang / answered per call."),
    (CALL_EVENTS, "Every valid AMI event of the day, deduplicated by identity."),
]


def history_specs(settings: Settings) -> list[AssetSpec]:
    """The history assets over the (date, enterprise) partitions of ``settings``."""
    partitions = history_partitions(settings)
    # skippable: the op reports one materialization per (date, enterprise) that actually landed
    # instead of one Output for the whole range, so a failed day never looks materialized.
    return [
        AssetSpec(
            key,
            description=description,
            kinds={"postgres", "table"},
            owners=OWNERS,
            group_name=names.GROUP_HISTORY,
            partitions_def=partitions,
            deps=[PBX_DAY_FILES],
            skippable=True,
        )
        for key, description in _HISTORY_ASSETS
    ]


def _outcome_metadata(outcome: SyncOutcome) -> dict[str, Any]:
    """Counts only: messages are the core's (they name hosts, never credentials)."""
    return {
        "enterprise": outcome.enterprise,
        "file_date": outcome.file_date,
        "status": outcome.status,
        "rows_read": outcome.rows_read,
        "new_calls": outcome.new_calls,
        "updated_calls": outcome.updated_calls,
        "new_events": outcome.new_events,
        "duplicates": outcome.duplicates,
        "rejected": outcome.rejected,
        "conflicts": outcome.conflicts,
        "bytes_transferred": outcome.bytes_transferred,
        "seconds": round(outcome.seconds, 3),
    }


def _stats_metadata(stats: CallStats | None) -> dict[str, Any]:
    if stats is None:
        return {"day_calls": 0}
    return {
        "day_calls": stats.calls,
        "answered_share": round(stats.answered_share, 4),
        "avg_duration_s": round(stats.avg_duration, 1) if stats.avg_duration is not None else None,
        "conversations": stats.calls,
        "legs_folded": stats.legs_folded,
        "transfers": stats.transfers,
    }


def _shape_metadata(counts: dict[str, int]) -> MetadataValue:
    """Conversations of the partition's day per shape (SPEC §4.2): every shape of the vocabulary,
    0 when absent, so the UI can compare partitions; ``unknown`` only when some have none yet."""
    out = {shape: counts.get(shape, 0) for shape in SHAPES}
    if counts.get(UNKNOWN_SHAPE):
        out[UNKNOWN_SHAPE] = counts[UNKNOWN_SHAPE]
    return MetadataValue.json(out)


def build_history_sync(settings: Settings) -> AssetsDefinition:
    """The history multi-asset: partitions and backfill run size come from ``settings``."""
    return multi_asset(
        specs=history_specs(settings),
        name=names.HISTORY_OP,
        description="History sync of (date, enterprise) partitions: one sync_history_day per key.",
        # The backfill daemon splits a multi-partition subset per enterprise into date ranges;
        # 366 keys per run (ASTERISK_BACKFILL_RUN_PARTITIONS) makes a year of one enterprise one
        # run (5 runs for 5 × 365 days, 75 for 75). Each run costs a process start and a code load
        # (seconds), so fewer, longer runs keep Dagster's share low; 20 runs of 92 measured no
        # faster on 2 cores.
        backfill_policy=BackfillPolicy.multi_run(
            max_partitions_per_run=settings.backfill_run_partitions
        ),
        # The pool caps history syncs in flight across backfill runs (dagster.yaml concurrency.pools).
        pool=names.HISTORY_POOL,
    )(_history_sync)


def _history_sync(
    context: AssetExecutionContext,
    config: HistorySyncConfig,
    warehouse: WarehouseResource,
    fleet: FleetResource,
) -> Iterator[AssetMaterialization]:
    """Sync every partition of the run; record failures (core) and fail the run at the end."""
    keys = sorted(context.partition_keys)
    fleet_ = fleet.fleet()
    failed: list[str] = []
    landed: list[tuple[str, SyncOutcome]] = []
    with warehouse.engine() as engine:
        run = SyncRun(dagster_run_id=context.run.run_id, force=config.force)
        for key in keys:
            outcome = _sync_partition(context, engine, fleet_, key, run)
            if isinstance(outcome, str):
                failed.append(outcome)
            elif outcome.ok:  # one log line per run below: 365 event-log writes a year cost seconds
                landed.append((str(key), outcome))
            else:
                context.log.error("%s failed (%s): %s", key, outcome.error_kind, outcome.error)
                failed.append(f"{key}: {outcome.error_kind}: {outcome.error}")
        context.log.info(
            "%d of %d day syncs landed: %d rows read, %d new calls, %d rejected",
            len(landed), len(keys), sum(o.rows_read for _, o in landed),
            sum(o.new_calls for _, o in landed), sum(o.rejected for _, o in landed),
        )
        with engine.connect() as conn:
            by_day, shapes_by_day = _landed_stats(conn, fleet_, [o for _, o in landed])
    for key, outcome in landed:
        meta = _outcome_metadata(outcome)
        # conversations by the PBX-local day of their start (SPEC §4.5)
        stats = by_day.get((outcome.enterprise, outcome.file_date))
        for asset_key in sorted(context.selected_asset_keys, key=AssetKey.to_user_string):
            extra = _stats_metadata(stats) if asset_key == CALLS else {}
            if asset_key == CALLS:
                extra["shapes"] = _shape_metadata(shapes_by_day.get((outcome.enterprise, outcome.file_date), {}))
            yield AssetMaterialization(
                asset_key=asset_key, partition=key, metadata={**meta, **extra}
            )
    if failed:
        raise Failure(
            description=f"{len(failed)} of {len(keys)} day syncs failed (recorded in download_sync/sync_runs)",
            metadata={"failed": MetadataValue.md("\n".join(f"- {f}" for f in failed))},
        )


def _sync_partition(
    context: AssetExecutionContext, engine: Engine, fleet: Fleet, key: str, run: SyncRun,
) -> SyncOutcome | str:
    """One partition's day sync, or why it could not start (the database, an unknown enterprise)."""
    mpk = key if isinstance(key, MultiPartitionKey) else MultiPartitionKey(_split(key))
    number, day = (
        mpk.keys_by_dimension[names.ENTERPRISE_DIMENSION],
        date.fromisoformat(mpk.keys_by_dimension[names.DATE_DIMENSION]),
    )

    def lookup() -> Enterprise | None:
        with engine.connect() as conn:
            return get_enterprise(conn, number)

    try:  # a database restart takes seconds: wait for it rather than fail every day left
        enterprise = retry_database(lookup, engine=engine, seconds=DATABASE_WAIT_S)
    except SQLAlchemyError as exc:  # still down: this day fails, the next may not
        cause = getattr(exc, "orig", None) or exc
        context.log.error("%s failed (database): %s: %s", key, type(cause).__name__, cause)
        return f"{key}: database: central database error: {type(cause).__name__}: {cause}"
    if enterprise is None:
        context.log.error("enterprise %s is not in the enterprises table", number)
        return f"{key}: unknown enterprise"
    return sync_history_day(engine, fleet, enterprise, day, run=run)


def _landed_stats(
    conn: Connection, fleet: Fleet, landed: list[SyncOutcome],
) -> tuple[dict[tuple[str, str | None], CallStats], dict[tuple[str, str | None], dict[str, int]]]:
    """The downloaded calls (and their shapes) of the landed days, by enterprise and PBX-local day."""
    scope = StatsScope(enterprises={o.enterprise for o in landed}, zone_of=fleet.timezone)
    by_day = {
        (s.enterprise_id, s.day): s
        for s in call_stats(conn, scope, by_day=True)
        if s.data_source == "downloaded"
    }
    shapes_by_day: dict[tuple[str, str | None], dict[str, int]] = {}
    if landed:
        days = DayRange(*(f(date.fromisoformat(o.file_date) for o in landed) for f in (min, max)))
        for s in shape_stats(conn, replace(scope, days=days), by_day=True, data_source="downloaded"):
            shapes_by_day.setdefault((s.enterprise_id, s.day), {})[s.shape] = s.calls
    return by_day, shapes_by_day


def _split(key: str) -> dict[str, str]:
    """A serialized multi-partition key: dimensions sorted by name, joined by '|'."""
    day, number = key.split("|")
    return {names.DATE_DIMENSION: day, names.ENTERPRISE_DIMENSION: number}


@asset(
    name=names.SYNC_STATISTICS,
    deps=[CALLS, CALL_PARTICIPANTS, CALL_EVENTS],
    description="Headline figures per enterprise and data source (calls, answered share, average "
    "duration) and the sync state of every PBX (download_sync).",
    kinds={"postgres"},
    owners=OWNERS,
    group_name=names.GROUP_STATISTICS,
)
def sync_statistics(warehouse: WarehouseResource) -> MaterializeResult[None]:
    """Read-only: everything comes from the warehouse's own statistics queries."""
    with warehouse.engine() as engine, engine.connect() as conn:
        stats = call_stats(conn)
        sync_rows = conn.execute(
            select(
                download_sync.c.enterprise_id,
                download_sync.c.last_successful_sync,
                download_sync.c.last_failed_sync,
                download_sync.c.total_downloaded_events,
                download_sync.c.failed_events_count,
            ).order_by(download_sync.c.enterprise_id)
        ).all()
        failing = conn.execute(
            select(func.count())
            .select_from(download_sync)
            .where(download_sync.c.last_failed_sync.is_not(None))
            .where(
                (download_sync.c.last_successful_sync.is_(None))
                | (download_sync.c.last_failed_sync > download_sync.c.last_successful_sync)
            )
        ).scalar_one()
    total = sum(s.calls for s in stats)
    answered = sum(s.answered for s in stats)
    weighted = [(s.avg_duration or 0.0) * s.calls for s in stats if s.avg_duration is not None]
    table = "\n".join(
        ["| enterprise | source | calls | answered % | avg duration s |", "|---|---|---|---|---|"]
        + [
            f"| {s.enterprise_id} | {s.data_source} | {s.calls} | {100 * s.answered_share:.1f} | "
            f"{'' if s.avg_duration is None else f'{s.avg_duration:.1f}'} |"
            for s in stats
        ]
    )
    syncs = "\n".join(
        ["| enterprise | last success | last failure | events | failed |", "|---|---|---|---|---|"]
        + [
            f"| {r.enterprise_id} | {r.last_successful_sync} | {r.last_failed_sync} | "
            f"{r.total_downloaded_events} | {r.failed_events_count} |"
            for r in sync_rows
        ]
    )
    return MaterializeResult(
        metadata={
            "calls": total,
            "answered": answered,
            "answered_share": round(answered / total, 4) if total else 0.0,
            "avg_duration_s": round(sum(weighted) / total, 1) if total and weighted else None,
            "enterprises_with_calls": len({s.enterprise_id for s in stats}),
            "pbx_failing_now": int(failing),
            "by_enterprise": MetadataValue.md(table),
            "download_sync": MetadataValue.md(syncs),
        }
    )
