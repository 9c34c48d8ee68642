"""Dagster resources: thin handles on the core's Settings and warehouse engine.

Nothing secret is stored in resource config (the UI shows it): the database URL and the SSH
credentials are read from the ``ASTERISK_*`` environment through ``Settings`` at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from sqlalchemy import Engine

from ..fleet import Fleet
from ..settings import Settings
from ..warehouse.db import make_engine


class FleetResource(ConfigurableResource):
    """The PBX fleet as configured by ``ASTERISK_*`` (transport, SSH options, time zones)."""

    def settings(self) -> Settings:
        # Read fresh per run so that an operator's env change needs no code location reload.
        return Settings()

    def fleet(self) -> Fleet:
        return Fleet.load(self.settings())


class WarehouseResource(ConfigurableResource):
    """The central database. ``database_url`` overrides ``ASTERISK_DATABASE_URL`` (tests only)."""

    database_url: str | None = None

    def url(self) -> str:
        return self.database_url or Settings().resolved_database_url

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """An engine for one run/tick, disposed afterwards so no pool outlives the process step."""
        engine = make_engine(self.url())
        try:
            yield engine
        finally:
            engine.dispose()
