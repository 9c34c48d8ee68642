"""Partitions: enterprise (dynamic, kept by the sensor) × PBX-local day."""

from __future__ import annotations

import os
from datetime import date

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
)

from ..settings import DEFAULT_BACKFILL_RUN_PARTITIONS, DEFAULT_PBX_TIMEZONE

ENTERPRISES = "enterprises"
DEFAULT_HISTORY_START = "2025-01-01"


def history_start() -> str:
    """``ASTERISK_HISTORY_START`` (YYYY-MM-DD), validated so a typo fails at load, not mid-backfill."""
    value = os.environ.get("ASTERISK_HISTORY_START", DEFAULT_HISTORY_START)
    return date.fromisoformat(value).isoformat()


def backfill_run_partitions() -> int:
    """``ASTERISK_BACKFILL_RUN_PARTITIONS``: most (date, enterprise) keys one backfill run takes.

    Validated at load like the start date: a bad value must not surface mid-backfill.
    """
    raw = os.environ.get("ASTERISK_BACKFILL_RUN_PARTITIONS", str(DEFAULT_BACKFILL_RUN_PARTITIONS))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ASTERISK_BACKFILL_RUN_PARTITIONS must be an integer, got {raw!r}") from None
    if not 1 <= value <= 10_000:
        raise ValueError(f"ASTERISK_BACKFILL_RUN_PARTITIONS must be 1..10000, got {value}")
    return value


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
