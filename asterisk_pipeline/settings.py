"""One typed settings object, read from the environment (prefix ``ASTERISK_``).

Every shell (CLI, Dagster, the sidecar) builds its ``Settings`` here so that an operator sets a
value once, in one place, and it means the same thing everywhere.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .fleet_health import HealthRules, WorkingHours

ENV_PREFIX = "ASTERISK_"
DEFAULT_PBX_TIMEZONE = "Europe/Minsk"
DEFAULT_HISTORY_START = date(2025, 1, 1)
DEFAULT_BACKFILL_RUN_PARTITIONS = 366  # a year of one enterprise per Dagster backfill run
DEFAULT_LIVE_INTERVAL_MINUTES = 5
DEFAULT_MAX_REJECTED_SHARE = 0.05
DEFAULT_LIVE_FRESHNESS_MINUTES = 15.0
DEFAULT_CHECKS_CRON = "*/15 * * * *"  # like the live freshness window


class Settings(BaseSettings):
    """Pipeline configuration; see the README's "Configuration" table for every variable."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

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
    read_chunk_rows: int = Field(default=10_000, ge=100, description="Source rows read per chunk")
    read_chunk_bytes: int = Field(
        default=16 * 1024 * 1024, ge=64 * 1024,
        description="Bytes of source values read per chunk: a day of huge bodies reads in bounded memory",
    )
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
    ssh_port: int = Field(default=5059, ge=1, le=65535, description="Shared SSH port of the PBXes")
    ssh_user: str = Field(default="root", description="Shared SSH login")
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
    ssh_connect_timeout_s: float = Field(
        default=10.0, gt=0, description="Connect, banner and authentication timeout"
    )
    ssh_operation_timeout_s: float = Field(
        default=120.0, gt=0, description="Timeout of one SSH/SFTP operation"
    )
    ssh_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of transient failures (backoff 0.5 s, doubling)"
    )
    ssh_max_sessions: int = Field(default=16, ge=1, le=512, description="Concurrent PBX syncs")
    live_fetch: Literal["query", "copy"] = Field(
        default="query",
        description="query: only rows above the cursor via the PBX's sqlite3 (copy when it has none); "
        "copy: always copy the whole file over SFTP",
    )
    live_max_rows_per_cycle: int = Field(
        default=200_000, ge=1000, description="Rows one live cycle takes from a file; the rest waits"
    )
    live_max_bytes_per_cycle: int = Field(
        default=64 * 1024 * 1024, ge=64 * 1024,
        description="Bytes of source values one live cycle takes from a file; the rest waits",
    )

    # -- the Dagster code location (read once, when the definitions load) --------------------
    history_start: date = Field(
        default=DEFAULT_HISTORY_START,
        description="First day (YYYY-MM-DD) of the history partitions; the sidecar refuses "
        "history requests before it",
    )
    backfill_run_partitions: int = Field(
        default=DEFAULT_BACKFILL_RUN_PARTITIONS,
        ge=1,
        le=10_000,
        description="Most (date, enterprise) partitions one backfill run takes (366 = a year of "
        "one enterprise per run); smaller runs show progress sooner, at a process start each",
    )
    live_schedule: Literal["on", "off"] = Field(
        default="on", description="off: the live schedule starts stopped (manual / REST-only setups)"
    )
    max_rejected_share: float = Field(
        default=DEFAULT_MAX_REJECTED_SHARE,
        ge=0,
        le=1,
        description="Rejected source rows over all rows above which the rejected-share check warns",
    )
    live_freshness_minutes: float = Field(
        default=DEFAULT_LIVE_FRESHNESS_MINUTES,
        gt=0,
        description="The live-freshness check fails for an active enterprise whose last "
        "successful live sync is older",
    )
    checks_cron: str = Field(
        default=DEFAULT_CHECKS_CRON, description="Cron schedule of warehouse_checks_job (UTC; Dagster rejects a bad one at load)"
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
    api_client_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="A client must send a request's headers, and then its body, within this many seconds "
        "(else 408 and the connection is closed: slow clients cannot hold sockets)",
    )
    api_max_connections: int = Field(
        default=1000, ge=1,
        description="Open connections the sidecar serves at once; past it new requests answer 503 "
        "(uvicorn's limit_concurrency; keep it below the unit's LimitNOFILE)",
    )
    live_interval_minutes: int = Field(
        default=DEFAULT_LIVE_INTERVAL_MINUTES,
        ge=1,
        le=59,
        description="Live schedule interval in minutes (a cron */N step; the sidecar reports it as "
        "auto_sync_interval)",
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

    # --- fleet health and alerts (SPEC §4.8) ---
    health_stale_event_minutes: float = Field(
        default=60.0, gt=0,
        description="Fleet health: 'stale' when no new event arrived for this many minutes of the "
        "PBX's working hours",
    )
    health_working_hours: str = Field(
        default="08:00-20:00",
        description="PBX-local hours HH:MM-HH:MM, every day, during which silence counts "
        "(00:00-00:00: around the clock)",
    )
    health_stale_sync_minutes: float = Field(
        default=30.0, gt=0, description="Fleet health: 'stale' when the last successful live sync is older"
    )
    health_failing_after: int = Field(
        default=3, ge=1, description="Fleet health: 'failing' after this many consecutive failed live syncs"
    )
    alert_webhook_url: SecretStr | None = Field(
        default=None,
        description="Where a fleet-health alert is POSTed as JSON, once per change of status "
        "(unset: no alerts; never logged, shown as scheme://host/…)",
    )
    alert_webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of one alert POST (a failed one is retried next cycle)"
    )

    # --- missed calls (SPEC §4.7) ---
    missed_window_days: float = Field(
        default=7.0, gt=0, le=366,
        description="Follow-up window of a missed call: a callback or a call that got through within it "
        "resolves it; past it an unresolved missed call is expired (`calls rebuild` applies a change)",
    )
    missed_open_alert_hours: float = Field(
        default=24.0, gt=0,
        description="The missed_calls asset check warns about missed calls still open after this long",
    )

    # Operators read these errors at code-location load: they name the variable and its range,
    # as the Dagster code did when it parsed the variables itself.
    @field_validator("history_start", mode="before")
    @classmethod
    def _iso_day(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"{_variable(info)} must be YYYY-MM-DD, got {value!r}") from None
        return value

    @field_validator("backfill_run_partitions", "live_interval_minutes", mode="before")
    @classmethod
    def _bounded_int(cls, value: Any, info: ValidationInfo) -> Any:
        name = _variable(info)
        low, high, sep = (1, 59, "-") if info.field_name == "live_interval_minutes" else (1, 10_000, "..")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ValueError(f"{name} must be an integer, got {value!r}") from None
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise ValueError(f"{name} must be {low}{sep}{high}, got {value}")
        return value

    @field_validator("live_schedule", mode="before")
    @classmethod
    def _on_off(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in ("on", "off"):
                raise ValueError(f"{_variable(info)} must be 'on' or 'off', got {value!r}")
        return value

    @field_validator("health_working_hours")
    @classmethod
    def _working_hours(cls, value: str, info: ValidationInfo) -> str:
        try:
            WorkingHours.parse(value)
        except ValueError as exc:
            raise ValueError(f"{_variable(info)}: {exc}") from None
        return value

    @field_validator("pbx_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_info(value)
        return value

    @field_validator("enterprise_timezones")
    @classmethod
    def _known_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            zone_info(zone)
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'asterisk.db').resolve()}"

    @property
    def health_rules(self) -> HealthRules:
        """The fleet-health thresholds (SPEC §4.8) as the pure rules take them."""
        return HealthRules(
            stale_event_minutes=self.health_stale_event_minutes,
            stale_sync_minutes=self.health_stale_sync_minutes,
            failing_after=self.health_failing_after,
            working_hours=WorkingHours.parse(self.health_working_hours),
        )

    @property
    def missed_window(self) -> timedelta:
        """The follow-up window of a missed call (SPEC §4.7)."""
        return timedelta(days=self.missed_window_days)

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


def env_var(field: str) -> str:
    """The environment variable of a ``Settings`` field (``history_start`` → ``ASTERISK_HISTORY_START``).

    Raises ``KeyError`` for a name that is no field, so a typo in code that hands variables to a
    child process fails instead of being ignored (``extra="ignore"``).
    """
    if field not in Settings.model_fields:
        raise KeyError(f"Settings has no field {field!r}")
    return f"{ENV_PREFIX}{field.upper()}"


def _variable(info: ValidationInfo) -> str:
    """The variable a field validator is checking, for its error message."""
    return env_var(info.field_name or "")


def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
