"""One typed settings object, read from the environment (prefix ``ASTERISK_``).

Every shell (CLI, Dagster, the sidecar) builds its ``Settings`` here so that an operator sets a
value once, in one place, and it means the same thing everywhere.
"""
from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PBX_TIMEZONE = "Europe/Minsk"
DEFAULT_BACKFILL_RUN_PARTITIONS = 366  # a year of one enterprise per Dagster backfill run


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

    # -- reaching the PBXes (SPEC §2, §6) -----------------------------------------------------
    transport: Literal["ssh", "local"] = Field(
        default="ssh", description="ssh: reach each PBX over SSH; local: read ASTERISK_LOCAL_LOGS_DIR/<number>/"
    )
    local_logs_dir: Path | None = Field(
        default=None, description="Mirrored log directories, one per enterprise number"
    )
    fleet_file: Path | None = Field(
        default=None, description="Optional TOML file of per-enterprise connection overrides"
    )
    remote_dir: str = Field(default="/var/log/asterisk", description="Log directory on the PBX")
    ssh_port: int = Field(default=5059, ge=1, le=65535)
    ssh_user: str = Field(default="root")
    ssh_key_file: Path | None = Field(default=None, description="Private key for SSH login")
    ssh_password: SecretStr | None = Field(default=None, description="Shared SSH password")
    ssh_password_file: Path | None = Field(
        default=None, description="File holding the shared SSH password (instead of the variable)"
    )
    known_hosts_file: Path | None = Field(
        default=None, description="Known-hosts file (default: $ASTERISK_HOME/known_hosts)"
    )
    ssh_trust_on_first_use: bool = Field(
        default=False, description="Accept and pin unknown host keys (changed keys stay refused)"
    )
    ssh_connect_timeout_s: float = Field(default=10.0, gt=0)
    ssh_operation_timeout_s: float = Field(default=120.0, gt=0)
    ssh_retries: int = Field(default=3, ge=0, le=10)
    ssh_max_sessions: int = Field(default=16, ge=1, le=512, description="Concurrent PBX syncs")
    live_fetch: Literal["query", "copy"] = Field(
        default="query",
        description="query: only rows above the cursor via the PBX's sqlite3 (copy when it has none); "
        "copy: always copy the whole file over SFTP",
    )
    live_max_rows_per_cycle: int = Field(
        default=200_000, ge=1000, description="Rows one live cycle takes from a file; the rest waits"
    )

    history_start: date = Field(
        default=date(2025, 1, 1),
        description="First day of the history partitions (Dagster reads the same variable)",
    )
    backfill_run_partitions: int = Field(
        default=DEFAULT_BACKFILL_RUN_PARTITIONS,
        ge=1,
        le=10_000,
        description="Most (date, enterprise) partitions one backfill run takes (read by the Dagster "
        "code at load; 366 = a year of one enterprise per run)",
    )
    # --- the REST sidecar (asterisk-pipeline serve) ---
    api_host: str = Field(default="127.0.0.1", description="Sidecar bind address (loopback by default)")
    api_port: int = Field(default=8007, ge=1, le=65535, description="Sidecar port")
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token required by the mutating endpoints when set"
    )
    dagster_url: str = Field(
        default="http://127.0.0.1:3000", description="Dagster webserver (GraphQL and UI links)"
    )
    live_interval_minutes: int = Field(
        default=5, ge=1, le=59, description="Live schedule interval (also read by the Dagster code)"
    )
    health_max_live_age_minutes: float = Field(
        default=15.0, gt=0, description="/health is 503 when the last successful live sync is older"
    )
    api_wait_timeout_s: float = Field(
        default=600.0, gt=0, description="Longest ?wait=true may block before answering 202"
    )
    api_history_default_days: int = Field(
        default=7, ge=1, description="History range of a sync request without dates: the last N days"
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

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts_file or self.home / "known_hosts"

    @property
    def cache_dir(self) -> Path:
        """Verified local copies of remote day files."""
        return self.home / "cache"

    def shared_password(self) -> str | None:
        """The shared SSH password from the variable or the secrets file (never logged)."""
        if self.ssh_password is not None:
            return self.ssh_password.get_secret_value()
        if self.ssh_password_file is not None:
            return self.ssh_password_file.read_text().strip()
        return None



def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
