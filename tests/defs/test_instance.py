"""The instance configs: embedded dagster.yaml loads; deploy/dagster.yaml runs on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from asterisk_pipeline.defs.resources import FleetResource, WarehouseResource
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.workers.storage import POOL_SIZE
from tests.support.cluster import celery_env, pg_env
from tests.support.defs import NUMBERS, add_enterprises, history_sync
from tests.support.pg import PG_ADMIN_URL, new_pg_database
from tests.support.private_pg import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]


def _load(config: Path, home: Path) -> DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(config, home / "dagster.yaml")
    return DagsterInstance.from_config(str(home))


def test_embedded_instance_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    instance = _load(ROOT / "dagster.yaml", tmp_path / "dh")
    try:
        assert instance.run_monitoring_enabled
        coordinator = instance.run_coordinator
        assert type(coordinator).__name__ == "QueuedRunCoordinator"
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "asterisk/flow", "value": "live", "limit": 1} in limits
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 4
        assert (tmp_path / "dh").is_dir() and type(
            instance.run_storage
        ).__name__ == "SqliteRunStorage"
    finally:
        instance.dispose()


def _deploy_env(monkeypatch: pytest.MonkeyPatch, server: URL, database: str, queue: str) -> None:
    """deploy/dagster.yaml's variables: Dagster's storage in ``database`` on ``server``, and its
    Celery run launcher (not started: materialize runs in-process)."""
    env = {**pg_env(server.host or "127.0.0.1", server.port or 5432, database,
                    server.username or "postgres", server.password or ""),
           **celery_env("127.0.0.1", 0, queue)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def dagster_pg_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for Dagster's own storage, wired into DAGSTER_PG_*."""
    with new_pg_database("ap_dagster") as name:
        _deploy_env(monkeypatch, make_url(PG_ADMIN_URL), name, "asterisk-test-instance")
        yield name


def test_materialize_on_a_postgres_backed_instance(
    tmp_path: Path,
    dagster_pg_db: str,
    sqlite_url: str,
    fleet: FleetResource,
) -> None:
    engine = make_engine(sqlite_url)
    add_enterprises(engine, *NUMBERS)
    instance = _load(ROOT / "deploy" / "dagster.yaml", tmp_path / "dh")
    try:
        assert type(instance.run_storage).__name__ == "PooledRunStorage"
        assert instance.run_monitoring_enabled
        instance.add_dynamic_partitions(ENTERPRISES, list(NUMBERS))
        resources = {
            "warehouse": WarehouseResource(database_url=sqlite_url),
            "fleet": fleet,
        }
        result = materialize(
            [history_sync], partition_key="2025-07-01|0100", instance=instance, resources=resources
        )
        assert result.success
        # read back from PostgreSQL: the run and the partition's materialization are stored there
        assert instance.get_run_by_id(result.run_id).is_success
        materialized = instance.get_materialized_partitions(
            history_sync.keys_by_output_name["calls"]
        )
        assert materialized == {"2025-07-01|0100"}
    finally:
        instance.dispose()
        engine.dispose()


def test_a_range_run_on_postgres_records_each_days_metadata_in_few_connections(
    tmp_path: Path, dagster_pg_db: str, sqlite_url: str, fleet: FleetResource
) -> None:
    """A backfill-sized run: a materialization per (day, asset) with that day's metadata, written
    over the pooled storage's few connections (dagster-postgres alone opened 153 for this run)."""
    engine = make_engine(sqlite_url)
    add_enterprises(engine, *NUMBERS)
    instance = _load(ROOT / "deploy" / "dagster.yaml", tmp_path / "dh")
    opened: list[object] = []
    try:
        instance.add_dynamic_partitions(ENTERPRISES, list(NUMBERS))
        storage_engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
        event.listen(storage_engine, "connect", lambda *_: opened.append(1))
        result = materialize(
            [history_sync], instance=instance,
            resources={"warehouse": WarehouseResource(database_url=sqlite_url), "fleet": fleet},
            tags={"dagster/asset_partition_range_start": "2025-07-01|0100",
                  "dagster/asset_partition_range_end": "2025-07-03|0200"},
        )
        assert result.success
        days = {f"2025-07-0{d}|{n}" for d in (1, 2, 3) for n in NUMBERS}
        for asset_key in history_sync.keys:
            assert instance.get_materialized_partitions(asset_key) == days
            records = instance.fetch_materializations(asset_key, limit=100).records
            assert len(records) == len(days)
            for record in records:
                materialization = record.asset_materialization
                assert materialization is not None
                day, number = str(materialization.partition).split("|")
                meta = materialization.metadata
                assert (str(meta["file_date"].value), meta["enterprise"].value) == (day, number)
                assert meta["rows_read"].value > 0 and meta["status"].value == "success"
        calls = instance.fetch_materializations(history_sync.keys_by_output_name["calls"], limit=100)
        assert all(r.asset_materialization and r.asset_materialization.metadata["day_calls"].value > 0
                   for r in calls.records)
        # ~40 events of the run, 18 of them materializations: unpooled, each is 2-5 connections
        assert len(opened) <= POOL_SIZE, f"{len(opened)} connections opened"
    finally:
        instance.dispose()
        engine.dispose()


def test_pooled_storage_reconnects_after_a_postgresql_restart(
    tmp_path: Path, private_pg: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections die with the server; the next statement must not fail with them."""
    url = make_url(private_pg.create_database("dagster"))
    _deploy_env(monkeypatch, url, url.database or "dagster", "asterisk-test-pool")
    instance = _load(ROOT / "deploy" / "dagster.yaml", tmp_path / "dh")
    try:
        instance.add_dynamic_partitions(ENTERPRISES, ["0100"])
        assert instance.get_run_records() == []  # the run storage's pool holds a connection too
        private_pg.restart(mode="fast")  # every pooled connection is cut
        instance.add_dynamic_partitions(ENTERPRISES, ["0200"])
        assert instance.get_dynamic_partitions(ENTERPRISES) == ["0100", "0200"]
        assert instance.get_run_records() == []
    finally:
        instance.dispose()
