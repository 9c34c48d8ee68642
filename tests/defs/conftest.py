"""A simulated fleet on the local transport, and Dagster resources pointing at the test database.

The definitions under test are built from ``settings_without_env()``: the defaults of
``Settings``, whatever ``ASTERISK_*`` variables the caller has set. The resources carry the
test's fleet and database as fields; no test steers them through the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from asterisk_pipeline.defs.resources import FleetResource, QualityThresholds, WarehouseResource
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from tests.support.defs import (
    DAYS,
    NUMBERS,
)
from tests.support.private_pg import private_pg  # noqa: F401 - a fixture of the tests here


@pytest.fixture(autouse=True)
def _no_asterisk_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Options that are no resource field (SSH port, time zones…) still come from ``Settings``
    at run time: the caller's ``ASTERISK_*`` must not change what these tests see."""
    for name in list(os.environ):
        if name.startswith("ASTERISK_") and not name.startswith(("ASTERISK_TEST_", "ASTERISK_SKIP_")):
            monkeypatch.delenv(name)
    yield


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
def fleet(tmp_path: Path, logs_dir: Path) -> FleetResource:
    """The local transport over ``logs_dir``, home under the test's directory."""
    return FleetResource(transport="local", local_logs_dir=str(logs_dir), home=str(tmp_path / "home"))


@pytest.fixture
def resources(db_url: str, fleet: FleetResource) -> dict[str, object]:
    return {
        "warehouse": WarehouseResource(database_url=db_url),
        "fleet": fleet,
        "quality_thresholds": QualityThresholds(),
    }
