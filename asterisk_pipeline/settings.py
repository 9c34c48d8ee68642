"""One typed settings object, read from the environment (prefix ``ASTERISK_``).

Every shell (CLI, Dagster, the sidecar) builds its ``Settings`` here so that an operator sets a
value once, in one place, and it means the same thing everywhere.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PBX_TIMEZONE = "Europe/Minsk"


class Settings(BaseSettings):
    """Pipeline configuration; see the README's "Configuration" table for every variable."""

    model_config = SettingsConfigDict(env_prefix="ASTERISK_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".asterisk"), description="Data directory of the embedded default")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the central database (default: SQLite under home)"
    )
    pbx_timezone: str = Field(default=DEFAULT_PBX_TIMEZONE, description="Time zone of PBX local times")
    enterprise_timezones: dict[str, str] = Field(
        default_factory=dict, description='Per-enterprise time zone overrides, JSON: {"0327": "Europe/Moscow"}'
    )
    live_import_all: bool = Field(
        default=False, description="Live flow: also create calls whose hangup was already delivered"
    )
    read_chunk_rows: int = Field(default=20_000, ge=100, description="Source rows read per chunk")
    sqlite_busy_timeout_s: float = Field(
        default=10.0, ge=0, description="How long to wait for a locked PBX file before giving up"
    )

    @field_validator("pbx_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("enterprise_timezones")
    @classmethod
    def _known_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            _zone(zone)
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'asterisk.db').resolve()}"

    def timezone_for(self, enterprise: str) -> ZoneInfo:
        """The PBX time zone of one enterprise (its override, else the shared default)."""
        return _zone(self.enterprise_timezones.get(enterprise, self.pbx_timezone))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
