"""Partitions: enterprise (dynamic, kept by the sensor) × PBX-local day."""

from __future__ import annotations

import os
from datetime import date

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
)

from ..settings import DEFAULT_PBX_TIMEZONE

ENTERPRISES = "enterprises"
DEFAULT_HISTORY_START = "2025-01-01"


def history_start() -> str:
    """``ASTERISK_HISTORY_START`` (YYYY-MM-DD), validated so a typo fails at load, not mid-backfill."""
    value = os.environ.get("ASTERISK_HISTORY_START", DEFAULT_HISTORY_START)
    return date.fromisoformat(value).isoformat()


def pbx_timezone() -> str:
    """The shared PBX zone: day partitions are PBX days, like the day files' names."""
    return os.environ.get("ASTERISK_PBX_TIMEZONE", DEFAULT_PBX_TIMEZONE)


enterprises_partitions = DynamicPartitionsDefinition(name=ENTERPRISES)

history_partitions = MultiPartitionsDefinition(
    {
        # end_offset=1: today's (still growing) file is a partition too.
        "date": DailyPartitionsDefinition(
            start_date=history_start(), timezone=pbx_timezone(), end_offset=1
        ),
        "enterprise": enterprises_partitions,
    }
)
