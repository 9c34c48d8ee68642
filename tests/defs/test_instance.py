"""The instance configs: embedded dagster.yaml loads; deploy/dagster.yaml runs on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy.engine import make_url

from asterisk_pipeline.defs.resources import FleetResource, WarehouseResource
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from asterisk_pipeline.warehouse.db import make_engine
from tests.conftest import PG_ADMIN_URL, new_pg_database
from tests.defs.conftest import NUMBERS, add_enterprises, history_sync

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


@pytest.fixture
def dagster_pg_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for Dagster's own storage, wired into DAGSTER_PG_*."""
    with new_pg_database("ap_dagster") as name:
        url = make_url(PG_ADMIN_URL)
        monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
        monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
        monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
        monkeypatch.setenv("DAGSTER_PG_DB", name)
        # deploy/dagster.yaml's Celery run launcher (not started: materialize runs in-process)
        monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
        monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/0")
        monkeypatch.setenv("DAGSTER_CELERY_QUEUE", "asterisk-test-instance")
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
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
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
