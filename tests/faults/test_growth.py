"""Fault scenario growth (tests/support/faults/scenario_growth.py): nothing lost, the behaviour checked."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults.scenario_growth import growth_between_cycles


@pytest.mark.slow
def test_growth(tmp_path: Path) -> None:
    result = growth_between_cycles(tmp_path)
    assert result.rows_lost == 0 and result.rows_duplicated == 0, result
    assert result.ok, result
