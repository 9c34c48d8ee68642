"""Keeps the ``enterprises`` dynamic partitions equal to the active rows of ``enterprises``."""

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ..names import ENTERPRISE_SENSOR, ENTERPRISES_PARTITIONS
from ..warehouse.registry import active_enterprises, skipped_enterprises
from .partitions import enterprises_partitions
from .resources import WarehouseResource


@sensor(
    name=ENTERPRISE_SENSOR,
    minimum_interval_seconds=45,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds partitions for new active enterprises, deletes disabled ones (their warehouse "
    "history stays). A row whose number is unsafe (SPEC §3) gets none and is logged. One SELECT per tick.",
)
def enterprise_partitions_sensor(
    context: SensorEvaluationContext,
    warehouse: WarehouseResource,
) -> SensorResult | SkipReason:
    with warehouse.engine() as engine, engine.connect() as conn:
        # only safe numbers: a '|' in a partition key would fail every multi-partition request
        active = {e.number for e in active_enterprises(conn)}
        skipped = skipped_enterprises(conn)
    for row in skipped:
        context.log.warning(f"enterprises row {row.number} gets no partition: {row.reason}")
    current = set(context.instance.get_dynamic_partitions(ENTERPRISES_PARTITIONS))
    added, removed = sorted(active - current), sorted(current - active)
    if not added and not removed:
        return SkipReason(f"{len(current)} enterprise partitions, no change")
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(enterprises_partitions.build_add_request(added))
    if removed:
        requests.append(enterprises_partitions.build_delete_request(removed))
    context.log.info("enterprise partitions: +%s -%s", added, removed)
    return SensorResult(dynamic_partitions_requests=requests)
