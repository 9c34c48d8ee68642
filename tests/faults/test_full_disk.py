"""Fault scenario full_disk (tests/support/faults/scenario_full_disk.py): nothing lost, the behaviour checked."""
from __future__ import annotations

from pathlib import Path

from tests.support.faults.scenario_full_disk import full_disk_history_copy, tmpfs_missing
from tests.support.pg import service_missing


def test_full_disk(tmp_path: Path) -> None:
    missing = tmpfs_missing()
    if missing:
        service_missing(missing)
    result = full_disk_history_copy(tmp_path)
    assert result.rows_lost == 0 and result.rows_duplicated == 0, result
    assert result.ok, result
