"""Dagster resources: typed handles on the fleet, the warehouse and the check limits.

``build_definitions`` fills each resource's fields from the one ``Settings`` it was given, so
the UI's resource page shows the configuration a run uses, and tests set the fields instead of
environment variables. Nothing secret is a field (the UI shows them): SSH credentials, and the
database URL unless a test passes one, come from ``Settings`` when a run needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, field_validator
from sqlalchemy import Engine

from ..pbx.fleet import Fleet
from ..settings import Settings
from ..warehouse.db import make_engine

TRANSPORTS = ("ssh", "local")


class FleetResource(ConfigurableResource["FleetResource"]):
    """The PBX fleet. Unset fields (None) take the ``ASTERISK_*`` value of ``Settings``."""

    # Dagster config types have no Literal: validated by hand below.
    transport: str | None = Field(
        default=None, description="ssh: each PBX over SSH; local: read local_logs_dir/<number>/"
    )
    local_logs_dir: str | None = Field(
        default=None, description="Mirrored log directories, one per enterprise (local transport)"
    )
    home: str | None = Field(
        default=None, description="Data directory: cached day files, default known_hosts"
    )
    fleet_file: str | None = Field(
        default=None, description="TOML file of per-enterprise connection overrides"
    )

    @field_validator("transport")
    @classmethod
    def _known_transport(cls, value: str | None) -> str | None:
        if value is not None and value not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {value!r}")
        return value

    @classmethod
    def from_settings(cls, settings: Settings) -> FleetResource:
        return cls(
            transport=settings.transport,
            local_logs_dir=None if settings.local_logs_dir is None else str(settings.local_logs_dir),
            home=str(settings.home),
            fleet_file=None if settings.fleet_file is None else str(settings.fleet_file),
        )

    def settings(self) -> Settings:
        """``Settings`` with this resource's fields in front of the environment.

        Built when a run asks (the run worker loaded the definitions from the same environment):
        the secrets and the options that are no field here (SSH port, timeouts, time zones) come
        from there.
        """
        fields = {
            "transport": self.transport,
            "local_logs_dir": self.local_logs_dir,
            "home": self.home,
            "fleet_file": self.fleet_file,
        }
        overrides: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        return Settings(**overrides)

    def fleet(self) -> Fleet:
        """The fleet of this run, built once per run and handed to every sync in it (the fleet
        file is read again by each run, so an edit takes effect at the next one)."""
        return Fleet.load(self.settings())


class WarehouseResource(ConfigurableResource["WarehouseResource"]):
    """The central database. ``database_url`` overrides ``ASTERISK_DATABASE_URL`` (tests only:
    a URL may hold a password, and resource fields show in the UI)."""

    database_url: str | None = None

    def url(self) -> str:
        return self.database_url or Settings().resolved_database_url

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """An engine for one run/tick, disposed afterwards so no pool outlives the process step;
        its pool sized for the run's concurrent syncs."""
        engine = make_engine(self.url(), sessions=Settings().ssh_max_sessions)
        try:
            yield engine
        finally:
            engine.dispose()


def _as_in_settings(name: str) -> Any:
    """A field declared as Settings declares it (pydantic takes a FieldInfo as the default)."""
    return Settings.model_fields[name]


class QualityThresholds(ConfigurableResource["QualityThresholds"]):
    """Limits of the warehouse checks (``ASTERISK_MAX_REJECTED_SHARE``,
    ``ASTERISK_LIVE_FRESHNESS_MINUTES``); a checks run may override them in its run config."""

    # the same fields as Settings (bounds, defaults, descriptions): one definition of each limit
    max_rejected_share: float = _as_in_settings("max_rejected_share")
    live_freshness_minutes: float = _as_in_settings("live_freshness_minutes")
    missed_open_alert_hours: float = _as_in_settings("missed_open_alert_hours")

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityThresholds:
        return cls(
            max_rejected_share=settings.max_rejected_share,
            live_freshness_minutes=settings.live_freshness_minutes,
            missed_open_alert_hours=settings.missed_open_alert_hours,
        )

    @property
    def live_max_age(self) -> timedelta:
        return timedelta(minutes=self.live_freshness_minutes)
