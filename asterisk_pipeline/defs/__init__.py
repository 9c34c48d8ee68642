"""The Dagster code location (``workspace.yaml`` → ``asterisk_pipeline.defs:defs``).

Thin shells over the core: history assets per (date, enterprise), the live job and schedule,
the enterprise-partition sensor and warehouse checks. Configuration comes from ``ASTERISK_*``.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from .assets import history_sync, sync_statistics
from .checks import ALL_CHECKS, warehouse_checks_job, warehouse_checks_schedule
from .live import live_calls_spec, live_sync_job, live_sync_schedule
from .resources import FleetResource, WarehouseResource
from .sensors import enterprise_partitions_sensor

defs = Definitions(
    assets=[history_sync, sync_statistics, live_calls_spec],
    asset_checks=ALL_CHECKS,
    jobs=[live_sync_job, warehouse_checks_job],
    schedules=[live_sync_schedule, warehouse_checks_schedule],
    sensors=[enterprise_partitions_sensor],
    resources={"warehouse": WarehouseResource(), "fleet": FleetResource()},
    # Every job is one op (the core parallelizes inside it): a step subprocess per run would only
    # add a second process start and code load to each run.
    executor=in_process_executor,
)
