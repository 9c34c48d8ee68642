"""``asterisk-pipeline calls search`` as an operator runs it (a real process): the API's filters
and answers, a table, JSON and CSV, exit codes for bad arguments, 141 when the reader leaves."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from tests.support import search
from tests.support.cli import cli


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> search.Warehouse:
    work = tmp_path_factory.mktemp("cli-search")
    url = f"sqlite:///{work / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    try:
        return search.build(engine, url, work)
    finally:
        engine.dispose()


def _env(warehouse: search.Warehouse) -> dict[str, str]:
    return {"ASTERISK_HOME": str(warehouse.home), "PATH": "/usr/bin:/bin", "ASTERISK_PBX_TIMEZONE": "Europe/Minsk",
            "ASTERISK_ENTERPRISE_TIMEZONES": '{"0200": "Asia/Vladivostok"}'}


def _search(warehouse: search.Warehouse, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return cli("calls", "search", *args, "--db", warehouse.db_url, env=_env(warehouse), check=check)


def test_filters_answer_what_the_api_answers(warehouse: search.Warehouse) -> None:
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    cases = [
        ({"number": search.CUSTOMER}, ["--number", search.CUSTOMER]),
        ({"number": search.CUSTOMER, "direction": "outgoing"}, ["--number", search.CUSTOMER, "--direction", "outgoing"]),
        ({"enterprise_id": "0200", "date_from": "2025-07-04", "answered": "false"},
         ["--enterprise", "0200", "--date-from", "2025-07-04", "--unanswered"]),
        ({"extension": "201", "answered": "true"}, ["--extension", "201", "--answered"]),
        ({"shape": "followme", "direction": "0"}, ["--shape", "followme", "--direction", "0"]),
    ]
    for params, args in cases:
        page = json.loads(_search(warehouse, *args, "--json", "--limit", "1000").stdout)
        assert [(c["enterprise_id"], c["unique_id"]) for c in page["calls"]] == search.expected(calls, params), args
        assert page["count"] == len(page["calls"]) and page["more"] is False
    cut = json.loads(_search(warehouse, "--json", "--limit", "5").stdout)
    assert cut["count"] == 5 and cut["more"] is True
    assert [(c["enterprise_id"], c["unique_id"]) for c in cut["calls"]] == search.expected(calls, {})[:5]


def test_table_and_csv(warehouse: search.Warehouse) -> None:
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    table = _search(warehouse, "--number", "80291112233", "--enterprise", "0327").stdout.splitlines()
    assert table[0].split()[:3] == ["start", "(PBX", "time)"]
    assert len(table) == 1 + len(search.expected(calls, {"number": "80291112233", "enterprise_id": "0327"}))
    assert any(line.startswith("2025-07-05 09:00:00") for line in table)  # PBX-local time, not UTC (06:00)
    rows = list(csv.DictReader(io.StringIO(_search(warehouse, "--csv").stdout)))
    assert [(r["enterprise_id"], r["unique_id"]) for r in rows] == search.expected(calls, {})  # --csv: every call
    assert next(r for r in rows if r["unique_id"] == "1751700000.6")["phone_number"] == "'" + search.FORMULA
    assert len(_search(warehouse, "--csv", "--limit", "3").stdout.splitlines()) == 4
    nothing = _search(warehouse, "--number", "999999999999")
    assert nothing.returncode == 0 and "(no calls match)" in nothing.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--enterprise", "9999"], "9999"),
    (["--date-from", "2025-07-05", "--date-to", "2025-07-01"], "reversed"),
    (["--number", "call me"], "no digit"),
    (["--shape", "blob"], "invalid choice"),
    (["--direction", "sideways"], "invalid choice"),
    (["--limit", "0"], "at least 1"),
    (["--json", "--csv"], "not allowed"),
])
def test_bad_arguments_exit_2(warehouse: search.Warehouse, args: list[str], says: str) -> None:
    done = _search(warehouse, *args, check=False)
    assert done.returncode == 2 and says in done.stderr and not done.stdout


def test_a_reader_that_leaves_gets_exit_141(tmp_path: Path) -> None:
    """``calls search --csv | head -1`` over 20,000 calls: no traceback, status 141."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        conn.execute(text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
            " INSERT INTO calls (unique_id, enterprise_id, start_time, phone_number, phone_key, call_type,"
            " is_answered, data_source) SELECT '1751500000.' || i, '0327',"
            " datetime('2025-07-01 00:00:00', '+' || i || ' seconds'), '+375291112233', '291112233', '0', 0,"
            " 'downloaded' FROM n"))
    engine.dispose()
    process = subprocess.Popen([sys.executable, "-m", "asterisk_pipeline.cli", "calls", "search", "--csv", "--db", url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"ASTERISK_HOME": str(tmp_path),
                                                                                     "PATH": "/usr/bin:/bin"})
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"id,enterprise_id,unique_id")
    process.stdout.close()
    assert process.wait(timeout=60) == 141
    assert b"Traceback" not in process.stderr.read()
