"""Fault scenario clock_skew (tests/support/faults/scenario_clock_skew.py): nothing lost, the behaviour checked."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults.pbx_sshd import sshd_missing
from tests.support.faults.scenario_clock_skew import SCENARIOS
from tests.support.pg import service_missing


@pytest.mark.slow
def test_clock_skew(tmp_path: Path) -> None:
    missing = sshd_missing()
    if missing:
        service_missing(missing)
    for scenario in SCENARIOS:
        result = scenario(tmp_path / scenario.__name__)
        assert result.rows_lost == 0 and result.rows_duplicated == 0, result
        assert result.ok, result.details
