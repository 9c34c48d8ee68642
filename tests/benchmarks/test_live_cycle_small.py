"""``make bench``'s live-cycle benchmark, small: its ``--quick`` fleet of 10 real sshd.

Why in the suite: the 300-PBX figure of issue 21 comes from this benchmark; a change to the live
flow, the fleet file or the test sshd that broke it would only show at the next ``make bench``.
Its seconds mean nothing here; its checks do: every sync succeeds, only the new rows are
fetched, the CPU split adds up, and the PBXes' real clocks are believed.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from benchmarks import live_cycle as bench
from tests.support.pg import require_postgres


@pytest.mark.parametrize("hour", range(24))
def test_the_pbx_day_is_about_noon_whatever_the_hour(hour: int) -> None:
    now = datetime(2026, 3, 29, hour, 17, tzinfo=UTC)  # a DST day in Europe: fixed offsets ignore it
    pbx_day = bench.noon_somewhere(now)
    local = now.astimezone(ZoneInfo(pbx_day.zone))
    assert local.hour == 12
    assert pbx_day.day == local.date()
    assert pbx_day.file == f"Listen_AMI_{local.date().isoformat()}.db"


@pytest.mark.slow
def test_quick_cycle_fetches_only_new_rows_and_believes_the_clocks(
    ssh_available: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    require_postgres().dispose()
    with caplog.at_level(logging.WARNING, logger="asterisk_pipeline"):
        figures = bench.run(quick=True, repeat=1)
    out = capsys.readouterr().out
    assert figures["pbxes"] == 10
    (rep,) = figures["repetitions"]
    assert rep["new_rows"] > 0
    assert figures["bytes_share"] <= 0.10  # only rows above the cursors crossed the network
    cpu = rep["incremental_cpu_s"]
    assert cpu["pipeline"] > 0 and cpu["pbxes"] > 0  # the sshd were found and counted
    assert cpu["machine"] >= cpu["pipeline"] + cpu["pbxes"] - 0.05  # the split never exceeds the whole
    assert "CPU per incremental sync" in out
    # Each sshd answers with the machine's real clock: the PBXes' day agrees with it.
    assert not [r for r in caplog.records if "not believed" in r.getMessage()]
