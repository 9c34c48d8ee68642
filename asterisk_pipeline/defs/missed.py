"""The ``missed_calls`` asset (SPEC §4.7) and its check: who did we miss, and did we call back.

The imports keep the table (``sync/missed.py``); materializing a (date, enterprise) partition
stores 'expired' on the enterprise's rows whose window passed and reports the day's figures —
missed calls, the share resolved, the median seconds to a callback — so the UI shows them per
partition beside ``calls``. Same partitions and batched backfill policy as the history assets.
The check (WARN) names the enterprises with missed calls still open after
``ASTERISK_MISSED_OPEN_ALERT_HOURS``; it runs with the warehouse checks.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MultiPartitionKey,
    asset_check,
    multi_asset,
)

from .. import names
from ..missed_report import MissedDay
from ..settings import Settings
from ..sync.missed import day_figures, still_open
from .assets import CALLS, OWNERS
from .partitions import history_partitions
from .resources import FleetResource, QualityThresholds, WarehouseResource

MISSED_CALLS = AssetKey(names.MISSED_CALLS)


def _figures(day: MissedDay | None) -> dict[str, Any]:
    if day is None:
        return {"missed": 0, "called_back": 0, "got_through": 0, "open": 0, "expired": 0,
                "resolved_share": 0.0, "median_seconds_to_callback": None}
    return {"missed": day.missed, "called_back": day.called_back, "got_through": day.got_through,
            "open": day.open, "expired": day.expired, "resolved_share": day.resolved_share,
            "median_seconds_to_callback": day.median_seconds_to_callback}


def build_missed_calls(settings: Settings) -> AssetsDefinition:
    spec = AssetSpec(
        MISSED_CALLS,
        description="Missed calls (incoming conversations nobody held) with their follow-up: called "
        "back, got through, open, expired (SPEC §4.7). Kept by every import; a materialization "
        "stores expiries and reports the partition's missed calls, resolved share and median "
        "seconds to callback.",
        kinds={"postgres", "table"},
        owners=OWNERS,
        group_name=names.GROUP_STATISTICS,
        partitions_def=history_partitions(settings),
        deps=[CALLS],
        skippable=True,
    )
    return multi_asset(
        specs=[spec], name="missed_calls_figures",
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=settings.backfill_run_partitions),
    )(_missed_calls)


def _missed_calls(
    context: AssetExecutionContext, warehouse: WarehouseResource, fleet: FleetResource,
) -> Iterator[AssetMaterialization]:
    fleet_ = fleet.fleet()
    now = datetime.now(UTC)
    with warehouse.engine() as engine:
        for key in sorted(context.partition_keys):
            mpk = key if isinstance(key, MultiPartitionKey) else MultiPartitionKey(dict(zip(
                (names.DATE_DIMENSION, names.ENTERPRISE_DIMENSION), str(key).split("|"), strict=True)))
            number = mpk.keys_by_dimension[names.ENTERPRISE_DIMENSION]
            day = date.fromisoformat(mpk.keys_by_dimension[names.DATE_DIMENSION])
            with engine.begin() as conn:
                figures = day_figures(conn, number, day, fleet_.timezone(number), now)
            yield AssetMaterialization(asset_key=MISSED_CALLS, partition=str(key),
                                       metadata={"enterprise": number, "day": day.isoformat(), **_figures(figures)})


@asset_check(
    asset=MISSED_CALLS,
    description="No missed call stays open (not called back, caller not through) longer than "
    "missed_open_alert_hours of the quality_thresholds resource (ASTERISK_MISSED_OPEN_ALERT_HOURS, "
    "default 24); WARN, naming each enterprise and its count.",
)
def missed_calls_followed_up(warehouse: WarehouseResource, quality_thresholds: QualityThresholds) -> AssetCheckResult:
    hours = quality_thresholds.missed_open_alert_hours
    with warehouse.engine() as engine, engine.connect() as conn:
        waiting = still_open(conn, datetime.now(UTC), timedelta(hours=hours))
    return AssetCheckResult(
        passed=not waiting,
        severity=AssetCheckSeverity.WARN,
        metadata={"open_longer_than_hours": hours, "open_missed_calls": sum(n for _, n in waiting),
                  "by_enterprise": dict(waiting[:50])},
    )
