"""The live run's fleet-health report (SPEC §4.8): a check per enterprise partition, the failing
enterprises named, alerts sent.

Why the op reports the check itself: ``live_calls`` is materialized by an op job every few
minutes, and a check run on its own schedule showed "Not evaluated" beside fresh
materializations. The op yields one ``AssetCheckEvaluation`` per enterprise partition it
covers, so each partition's check result belongs to the cycle that produced it. The same check
run from the UI for one partition reads the enterprise's health from the warehouse.

One PBX down never fails the run: a fleet of hundreds always has one down, and a permanently
red job hides a real outage. The run fails only when every enterprise it covered failed —
then the fault is most likely on the central side (network, SSH key), and red is the truth —
or when a sync failed for a reason that is the central side's own, whichever PBX it was
syncing (``CENTRAL_KINDS``: the central database, the central disk, a bug).
"""

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    PreviewWarning,
    asset_check,
)
from sqlalchemy import Engine

from .. import names
from ..fleet_health import Health
from ..sync import SyncOutcome
from ..sync.alerts import AlertReport, send_alerts
from ..sync.health import fleet_health
from .partitions import enterprises_partitions
from .resources import FleetResource, WarehouseResource

LIVE_CALLS = AssetKey(names.LIVE_CALLS)
#: Most enterprise numbers a run tag lists (tag values are short; the log lists all).
TAG_NUMBERS = 20
HEALTHY = ("ok", "unknown")
#: Failure kinds (sync_runs.error_kind) that are no PBX's fault: they fail the live run.
CENTRAL_KINDS = frozenset({"database", "disk_full", "internal"})


@dataclass(frozen=True)
class CycleHealth:
    """What the live run learned about each enterprise it covered."""

    failed: dict[str, list[SyncOutcome]]  # enterprise → its failed syncs of this cycle
    health: dict[str, Health]  # enterprise → its fleet-health status after the cycle


def _error(outcomes: Sequence[SyncOutcome]) -> str | None:
    bad = [o for o in outcomes if not o.ok]
    return "; ".join(f"{o.file_date}: {o.error_kind}: {o.error}" for o in bad)[:500] or None


def _metadata(number: str, cycle: CycleHealth) -> dict[str, Any]:
    health = cycle.health.get(number)
    e = health.evidence if health is not None else None
    return {
        "enterprise": number,
        "status": health.status if health else "unknown",
        "reason": health.reason if health else "no health evidence",
        "error_this_cycle": _error(cycle.failed.get(number, [])) or "",
        "consecutive_failures": e.consecutive_failures if e else 0,
        "last_successful_sync": e.last_success.isoformat() if e and e.last_success else "never",
    }


def check_evaluations(numbers: Sequence[str], cycle: CycleHealth) -> Iterator[AssetCheckEvaluation]:
    """One evaluation of ``live_sync_healthy`` per enterprise partition: failed (ERROR) when its
    sync failed this cycle, failed (WARN) when it synced but its fleet health is stale or
    failing, passed otherwise."""
    for number in numbers:
        failed_now = number in cycle.failed
        health = cycle.health.get(number)
        healthy = health is None or health.status in HEALTHY
        yield AssetCheckEvaluation(
            asset_key=LIVE_CALLS, check_name=names.LIVE_SYNC_CHECK, partition=number,
            passed=not failed_now and healthy,
            severity=AssetCheckSeverity.ERROR if failed_now else AssetCheckSeverity.WARN,
            metadata=_metadata(number, cycle),
            description=f"{number} failed this cycle" if failed_now else None,
        )


def failing_tag(numbers: Sequence[str]) -> str:
    shown = ",".join(numbers[:TAG_NUMBERS])
    return shown if len(numbers) <= TAG_NUMBERS else f"{shown},(+{len(numbers) - TAG_NUMBERS} more)"


def assess(engine: Engine, fleet: FleetResource, failed: dict[str, list[SyncOutcome]]) -> CycleHealth:
    """The fleet's health right after the cycle (the same rules as ``GET /fleet/health``)."""
    with engine.connect() as conn:
        healths = fleet_health(conn, fleet.fleet())
    return CycleHealth(failed=failed, health={h.evidence.enterprise: h for h in healths if h.status != "skipped"})


def alert(engine: Engine, fleet: FleetResource, cycle: CycleHealth) -> AlertReport:
    """Alerts for every change of status (sync/alerts.py); a webhook that fails is retried next
    cycle and never fails the run."""
    return send_alerts(engine, cycle.health.values(), fleet.settings())


# A partitioned check is "preview" in Dagster 1.13: per-partition results are what the UI needs
# to show each enterprise's check beside its own materializations (one run covers them all).
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*", category=PreviewWarning)


@asset_check(
    asset=LIVE_CALLS,
    name=names.LIVE_SYNC_CHECK,
    partitions_def=enterprises_partitions,
    description="Per enterprise: its live sync of the cycle succeeded and its fleet health (SPEC §4.8) "
    "is ok or not yet known. Reported by every live run for each partition it covers; run from "
    "the UI it reads the enterprise's health from the warehouse.",
)
def live_sync_healthy(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, fleet: FleetResource
) -> AssetCheckResult:
    number = context.partition_key
    with warehouse.engine() as engine, engine.connect() as conn:
        healths = {h.evidence.enterprise: h for h in fleet_health(conn, fleet.fleet()) if h.status != "skipped"}
    cycle = CycleHealth(failed={}, health=healths)
    health = healths.get(number)
    return AssetCheckResult(
        passed=health is not None and health.status in HEALTHY,
        severity=AssetCheckSeverity.ERROR if health is not None and health.status == "failing"
        else AssetCheckSeverity.WARN,
        metadata=_metadata(number, cycle),
    )
