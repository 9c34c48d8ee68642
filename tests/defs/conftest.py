"""A simulated fleet on the local transport, and Dagster resources pointing at the test database."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.defs.resources import FleetResource, WarehouseResource
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.simulate import day_file_path, token_for, write_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise

DAYS = [date(2025, 7, 1) + timedelta(days=k) for k in range(3)]
NUMBERS = ("0100", "0200")


def enterprise(number: str) -> Enterprise:
    return Enterprise(
        number, f"E{number}", f"pbx{number}.lan", f"secret-{number}", None, token_for(number)
    )


def add_enterprises(engine: Engine, *numbers: str, active: bool = True) -> None:
    with write_transaction(engine) as conn:
        for number in numbers:
            upsert_enterprise(conn, enterprise(number), is_enabled=active, active=active)


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    for index, number in enumerate(NUMBERS):
        for k, day in enumerate(DAYS):
            write_day_file(
                day_file_path(root, number, day),
                token=token_for(number),
                day=day,
                calls=15,
                seed=5,
                start_id=index * 100_000 + k * 1_000,
                dirty_share=0.0,
            )
    return root


@pytest.fixture
def local_env(tmp_path: Path, logs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings() inside the resources read these: local transport over ``logs_dir``."""
    monkeypatch.setenv("ASTERISK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASTERISK_TRANSPORT", "local")
    monkeypatch.setenv("ASTERISK_LOCAL_LOGS_DIR", str(logs_dir))
    monkeypatch.delenv("ASTERISK_DATABASE_URL", raising=False)
    return logs_dir


@pytest.fixture
def resources(db_url: str, local_env: Path) -> dict[str, object]:
    return {"warehouse": WarehouseResource(database_url=db_url), "fleet": FleetResource()}
