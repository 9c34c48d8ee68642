"""Fault scenarios database (tests/support/faults/scenario_database.py): nothing lost, the behaviour checked."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults.scenario_database import (
    postgres_restart_during_backfill,
    postgres_restart_during_live_cycle,
)
from tests.support.pg import service_missing
from tests.support.private_pg import available


def _require() -> None:
    reason = available()
    if reason:
        service_missing(f"a private PostgreSQL cluster ({reason})")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_postgres_restart_during_live_cycle(tmp_path: Path) -> None:
    _require()
    result = postgres_restart_during_live_cycle(tmp_path)
    assert result.ok, result
    assert result.rows_lost == 0 and result.rows_duplicated == 0


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_postgres_restart_during_backfill(tmp_path: Path) -> None:
    _require()
    result = postgres_restart_during_backfill(tmp_path)
    assert result.ok, result
    assert result.rows_lost == 0 and result.rows_duplicated == 0
