"""The Dagster code location (``workspace.yaml`` → ``asterisk_pipeline.defs:defs``).

Thin shells over the core: history assets per (date, enterprise), the live job and schedule,
the enterprise-partition sensor and warehouse checks. Configuration enters here once: ``defs``
is built from one ``Settings()`` (``ASTERISK_*``) when the code location loads, so a bad value
fails the load, not a run; ``build_definitions`` takes any other ``Settings`` (tests).
"""

from __future__ import annotations

from dagster import AssetSpec, Definitions, in_process_executor

from ..settings import Settings
from .assets import build_history_sync, pbx_day_files_spec, sync_statistics
from .checks import ALL_CHECKS, build_checks_schedule, warehouse_checks_job
from .live import build_live_schedule, live_calls_spec, live_sync_job
from .live_health import live_sync_healthy
from .missed import build_missed_calls
from .resources import FleetResource, QualityThresholds, WarehouseResource
from .sensors import enterprise_partitions_sensor


def warehouse_kind(settings: Settings) -> str:
    """The UI's kind tag of the warehouse assets: the database ``settings`` store them in."""
    return "postgres" if settings.resolved_database_url.startswith("postgresql") else "sqlite"


def build_definitions(settings: Settings) -> Definitions:
    """Everything of the code location, configured by ``settings`` and nothing else."""
    kind = warehouse_kind(settings)

    def stored_in_warehouse(spec: AssetSpec) -> AssetSpec:
        # the specs say "postgres" (production); the demo and the tests run on SQLite
        return spec.replace_attributes(kinds={kind if k == "postgres" else k for k in spec.kinds})

    assets = [build_history_sync(settings), sync_statistics, build_missed_calls(settings)]
    return Definitions(
        assets=[
            pbx_day_files_spec,
            *(a.map_asset_specs(stored_in_warehouse) for a in assets),
            stored_in_warehouse(live_calls_spec),
        ],
        asset_checks=[*ALL_CHECKS, live_sync_healthy],
        jobs=[live_sync_job, warehouse_checks_job],
        schedules=[build_live_schedule(settings), build_checks_schedule(settings)],
        sensors=[enterprise_partitions_sensor],
        resources={
            "warehouse": WarehouseResource(),
            "fleet": FleetResource.from_settings(settings),
            "quality_thresholds": QualityThresholds.from_settings(settings),
        },
        # Every job is one op (the core parallelizes inside it): a step subprocess per run would
        # only add a second process start and code load to each run.
        executor=in_process_executor,
    )


defs = build_definitions(Settings())
