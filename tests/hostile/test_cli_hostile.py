"""Issue 18: every hostile input class through ``import-file``, a real process as an operator runs
it, on SQLite and PostgreSQL.

Per import: exactly one JSON line, exit code 0 (success) or 1 (failed sync), no traceback, a
``sync_runs`` row and ``download_sync`` saying the same; for a readable file every row is an
event, a duplicate or a reject as SPEC says, good rows and their calls are kept with their times,
and no stored time is implausible (SPEC §4.2).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from asterisk_pipeline.warehouse.db import make_engine
from tests.support.cli import cli
from tests.support.hostile.generate import CASES, RUNS, HostileFile, build
from tests.support.hostile.warehouse import (
    ENTERPRISE,
    Stored,
    add_enterprise,
    check_accounting,
    check_nothing_imported,
    check_plausible,
    check_recorded,
    check_rows,
    one_json_line,
    stored,
)


def import_file(made: HostileFile, db_url: str, home: Path) -> dict[str, Any]:
    env = {**os.environ, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(home)}
    result = cli("import-file", str(made.path), "--enterprise", ENTERPRISE.number, "--flow", made.flow,
                 env=env, check=False)
    return one_json_line(result)


def checked_import(made: HostileFile, db_url: str, home: Path) -> tuple[dict[str, Any], Stored]:
    """One import and the checks every import passes, whatever the file."""
    engine = make_engine(db_url)
    try:
        summary = import_file(made, db_url, home)
        check_recorded(engine, made, summary)
        now = stored(engine, made.flow)
    finally:
        engine.dispose()
    check_accounting(summary, now)
    check_plausible(now)
    return summary, now


@pytest.mark.parametrize(("name", "flow"), RUNS, ids=[f"{name}-{flow}" for name, flow in RUNS])
def test_hostile_file_import(name: str, flow: str, db_url: str, tmp_path: Path) -> None:
    made = build(name, flow, tmp_path / "pbx")
    engine = make_engine(db_url)
    add_enterprise(engine)
    engine.dispose()
    summary, now = checked_import(made, db_url, tmp_path / "home")
    expected = made.expected
    failed_ok = expected.or_failed_with if expected.status == "success" else expected.error_kinds
    if summary["status"] == "failed" and (expected.status == "failed" or expected.or_failed_with):
        assert summary.get("error_kind") in failed_ok, summary
        assert summary.get("error"), summary
        check_nothing_imported(now)
        return
    assert summary["status"] == expected.status, summary
    check_rows(made, summary, now)
    if expected.reimport:
        again = make_engine(db_url)
        try:
            second = import_file(made, db_url, tmp_path / "home")
            check_recorded(again, made, second, nth=2)
            assert second["status"] == "success", second
            assert second["new_events"] == second["rejected"] == second["new_calls"] == 0, second
            assert stored(again, flow) == now
        finally:
            again.dispose()


# The row-level classes: what one database stores, the other stores too (SPEC §4.2: "so that
# durations stay plausible and PostgreSQL and SQLite store the same values").
SAME_ON_BOTH = ("far_dates", "typed_values", "odd_body_fields", "hangup_huge_ints", "nul_bytes",
                "invalid_utf8", "lone_surrogates", "deep_object_990", "deep_array_990")
assert set(SAME_ON_BOTH) <= set(CASES)


@pytest.mark.parametrize("name", SAME_ON_BOTH)
def test_sqlite_and_postgresql_store_the_same(name: str, sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    made = build(name, "history", tmp_path / "pbx")
    results = {}
    for label, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
        engine = make_engine(url)
        add_enterprise(engine)
        engine.dispose()
        summary, now = checked_import(made, url, tmp_path / f"home-{label}")
        del summary["seconds"]
        results[label] = (summary, now)
    (lite_summary, lite), (pg_summary, pg) = results["sqlite"], results["postgresql"]
    assert lite_summary == pg_summary
    for part in ("events", "rejects", "calls", "legs", "participants"):
        mine, theirs = getattr(lite, part), getattr(pg, part)
        differ: dict[Any, Any]
        if isinstance(mine, dict):
            differ = {key: (mine.get(key), theirs.get(key)) for key in set(mine) | set(theirs)
                      if mine.get(key) != theirs.get(key)}
        else:
            sides = {"sqlite only": [r for r in mine if r not in theirs],
                     "postgresql only": [r for r in theirs if r not in mine]}
            differ = {side: found for side, found in sides.items() if found}
        assert not differ, f"{part} differ between SQLite and PostgreSQL: {differ}"
