"""A file recreated under the same name is noticed and read again, for every transport."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults.scenario_recreated_file import SCENARIOS, ssh_can_run
from tests.support.pg import service_missing


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.keywords['transport']}-{s.keywords['flow'].value}")
def test_recreated_file_is_read_again_and_nothing_is_lost(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if scenario.keywords["transport"] != "local" and not ssh_can_run():
        service_missing("OpenSSH sshd (run scripts/ensure-sshd.sh as root)")
    result = scenario(tmp_path)
    assert result.rows_lost == 0, result.details
    assert result.rows_duplicated == 0, result.details
    assert result.ok, result.details
