"""Helpers of the Dagster definitions' tests (tests/defs)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for


def today_files(logs_dir: Path, *numbers: str) -> None:
    today = datetime.now(ZoneInfo("Europe/Minsk")).date()
    for index, number in enumerate(numbers):
        write_day_file(
            day_file_path(logs_dir, number, today),
            token=token_for(number),
            day=today,
            calls=10,
            seed=11,
            start_id=500_000 + index * 10_000,
        )
