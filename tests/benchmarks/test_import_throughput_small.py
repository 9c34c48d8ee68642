"""``make bench``'s import benchmark, small: one repetition on a 300-call day file.

Why in the suite: the benchmark is how issue figures are measured; a change to the import's
tables or CLI that broke it would only show at the next ``make bench``. Its figures here mean
nothing (fixed costs dominate); its sanity checks and the output floor's row counts do.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from benchmarks import import_throughput as bench
from tests.support.pg import require_postgres


@pytest.fixture(scope="module")
def postgres() -> None:
    require_postgres().dispose()


@pytest.mark.slow
def test_one_repetition_is_sane_and_floors_the_imported_rows(tmp_path: Path, postgres: None,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = day_file_path(tmp_path, bench.ENTERPRISE, bench.DAY)
    summary = write_day_file(path, token=token_for(bench.ENTERPRISE), day=bench.DAY, calls=300,
                             seed=3, dirty_share=0.0)
    source_rows = summary.rows["APIlogs"]

    rep = bench.one_repetition(path)

    assert bench.sanity_problems([rep], source_rows) == []
    imported = rep["import"]["summary"]
    floor_rows = rep["floor"]["rows"]
    assert floor_rows["call_events"] == imported["new_events"] > 0
    assert floor_rows["calls"] == imported["new_calls"] > 0
    assert rep["import"]["cpu_seconds"] > 0 and rep["baseline"]["cpu_seconds"] > 0
    fig = bench.summarize([rep], source_rows)
    assert fig["import_to_floor"]["median"] > 0
    spec = bench.Input("small", "simulator", 300, reimports=True, speed_targets=False)
    bench.print_report(fig, bench.targets(fig, spec), [rep], source_rows, [], "(test)")
    printed = capsys.readouterr().out
    assert "output floor" in printed.lower()
