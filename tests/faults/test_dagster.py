"""Fault scenarios dagster (tests/support/faults/scenario_dagster.py): nothing lost, the behaviour checked."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults.scenario_dagster import dagster_daemon_killed, dagster_webserver_down


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_dagster_webserver_down(tmp_path: Path) -> None:
    result = dagster_webserver_down(tmp_path)
    assert result.ok, result
    assert result.rows_lost == 0 and result.rows_duplicated == 0


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_dagster_daemon_killed(tmp_path: Path) -> None:
    result = dagster_daemon_killed(tmp_path)
    assert result.ok, result
    assert result.rows_lost == 0 and result.rows_duplicated == 0
