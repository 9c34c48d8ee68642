"""The Dagster definitions under test and their registry (tests/defs, tests/api).

The definitions are built from ``settings_without_env()``: the defaults of ``Settings``, whatever
``ASTERISK_*`` variables the caller has set.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import Engine

from asterisk_pipeline.defs import build_definitions
from asterisk_pipeline.defs.assets import build_history_sync
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise

DAYS = [date(2025, 7, 1) + timedelta(days=k) for k in range(3)]
NUMBERS = ("0100", "0200")


class _InitOnlySettings(Settings):
    """``Settings`` from its defaults and keyword arguments only (no environment, no file)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_without_env(**fields: Any) -> Settings:
    return _InitOnlySettings(**fields)


DEFAULTS = settings_without_env()
DEFAULT_DEFS = build_definitions(DEFAULTS)
history_sync = build_history_sync(DEFAULTS)


def enterprise(number: str) -> Enterprise:
    return Enterprise(
        number, f"E{number}", f"pbx{number}.lan", f"secret-{number}", None, token_for(number)
    )


def add_enterprises(engine: Engine, *numbers: str, active: bool = True) -> None:
    with write_transaction(engine) as conn:
        for number in numbers:
            upsert_enterprise(conn, enterprise(number), is_enabled=active, active=active)


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
