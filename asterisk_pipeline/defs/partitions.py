"""Partitions: enterprise (dynamic, kept by the sensor) × PBX-local day."""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
)

from ..names import DATE_DIMENSION, ENTERPRISE_DIMENSION, ENTERPRISES_PARTITIONS
from ..settings import Settings

enterprises_partitions = DynamicPartitionsDefinition(name=ENTERPRISES_PARTITIONS)


def history_partitions(settings: Settings) -> MultiPartitionsDefinition:
    """(date, enterprise) from ``ASTERISK_HISTORY_START`` on; days are PBX days
    (``ASTERISK_PBX_TIMEZONE``), like the day files' names."""
    return MultiPartitionsDefinition(
        {
            # end_offset=1: today's (still growing) file is a partition too.
            DATE_DIMENSION: DailyPartitionsDefinition(
                start_date=settings.history_start.isoformat(),
                timezone=settings.pbx_timezone,
                end_offset=1,
            ),
            ENTERPRISE_DIMENSION: enterprises_partitions,
        }
    )
