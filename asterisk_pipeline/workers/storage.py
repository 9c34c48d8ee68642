"""dagster-postgres storage that keeps its PostgreSQL connections open (``deploy/dagster.yaml``).

Why: outside the webserver, dagster-postgres 0.29 opens a new connection for every statement
(``NullPool``), and storing one asset event takes four or five of them — the insert with its
NOTIFY, a table check, a column reflection of ``asset_keys``, the tag and asset-key updates —
each paying a backend start and a cold catalog cache. Measured on a year-long backfill run of one
enterprise (one Celery worker): 27 ms per event, so 29 s for the daemon to create the run (1,095
"materialization planned" events) and 21 s for the run to record its materializations, with
PostgreSQL's backend start-ups the busiest CPU user of the machine (benchmarks/dagster_celery.py).

Here every storage of a process keeps a small pool (``POOL_SIZE`` open connections; more are
opened, and closed again, only while several threads use it at once). A connection is pinged
when it is taken from the pool, so after a PostgreSQL restart the next statement reconnects
instead of failing. Tables and ``asset_keys``
columns found present are remembered for the life of the process: a schema only gains them
(``dagster instance migrate``), never loses them. Everything else is dagster-postgres's own:
tables, migrations, queries, the webserver's own pool (``optimize_for_webserver``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dagster._core.storage.config import PostgresStorageConfig
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from dagster_postgres.auth import PgTokenProvider

#: Connections each storage (runs, events, schedules) of a process keeps open.
POOL_SIZE = 2
#: Connections opened (and closed after use) beyond the pool when threads — the daemon's — use a
#: storage at once: no limit, as with dagster-postgres's own NullPool, so no thread ever waits.
POOL_OVERFLOW = -1
#: A connection older than this is replaced (a server-side idle timeout would cut it anyway).
POOL_RECYCLE_S = 1800


def pooled_engine(postgres_url: str, token_provider: PgTokenProvider | None) -> Engine:
    """The engine dagster-postgres builds, with a pinged pool instead of ``NullPool``."""
    return create_pg_engine(
        postgres_url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_recycle=POOL_RECYCLE_S,
        pool_pre_ping=True,
    )


class _Pooled:
    """Builds the dagster-postgres storage, then swaps its engine for a pooled one; closes the
    pool when the instance ends (dagster-postgres's own ``dispose`` leaves engines alone)."""

    _engine: Engine

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 token_provider: PgTokenProvider | None = None) -> None:
        super().__init__(  # type: ignore[call-arg]
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        unpooled, self._engine = self._engine, pooled_engine(postgres_url, token_provider)
        unpooled.dispose()

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()


class PooledRunStorage(_Pooled, PostgresRunStorage):
    """Runs: the daemon reads them every second (queue, monitoring), a run updates its own."""


class PooledScheduleStorage(_Pooled, PostgresScheduleStorage):
    """Schedule and sensor ticks (the live schedule's every five minutes)."""


class PooledEventLogStorage(_Pooled, PostgresEventLogStorage):
    """Events: a run's every step, log line and materialization; a backfill run's planned ones."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 token_provider: PgTokenProvider | None = None) -> None:
        super().__init__(postgres_url, should_autocreate_tables, token_provider)
        self._tables_present: set[str] = set()
        self._asset_key_columns_present: set[str] = set()

    def has_table(self, table_name: str) -> bool:
        # Asked before every asset event's tags are stored.
        if table_name not in self._tables_present and super().has_table(table_name):
            self._tables_present.add(table_name)
        return table_name in self._tables_present

    def has_asset_key_col(self, column_name: str) -> bool:
        # Asked (by reflecting asset_keys) before every asset event updates its asset's row.
        if column_name not in self._asset_key_columns_present and super().has_asset_key_col(column_name):
            self._asset_key_columns_present.add(column_name)
        return column_name in self._asset_key_columns_present


class PooledPostgresStorage(DagsterPostgresStorage):
    """``storage: custom:`` of deploy/dagster.yaml; its config is ``storage: postgres:``'s."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None,
                 token_provider: PgTokenProvider | None = None) -> None:
        # DagsterPostgresStorage.__init__ would build (and check the tables of) the unpooled three.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PooledRunStorage(postgres_url, should_autocreate_tables, token_provider)
        self._event_log_storage = PooledEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider
        )
        self._schedule_storage = PooledScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider
        )
        # dagster's MayHaveInstanceWeakref.__init__ carries no annotations
        super(DagsterPostgresStorage, self).__init__()  # type: ignore[no-untyped-call]

    @classmethod
    def from_config_value(  # type: ignore[override]  # the parent's builds its own class
        cls, inst_data: ConfigurableClassData | None, config_value: PostgresStorageConfig
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=bool(config_value.get("should_autocreate_tables", True)),
            token_provider=get_token_provider_from_config(config_value),
        )
