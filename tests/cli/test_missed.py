"""``asterisk-pipeline missed`` as a real process (SPEC §4.7): rows, filters, CSV, statistics,
exit codes."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.missed import EXPECTED, FIRST, SECOND, missed_day_files


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(tmp_path / "home")}
    cli("enterprise", "add", "0327", "--name", "VOS", "--host", "vos.lan", "--secret", "s", env=env)
    files = missed_day_files(tmp_path)
    for day in (SECOND, FIRST):  # the callback's day first
        cli("import-file", str(files[day]), "--enterprise", "0327", "--flow", "history", env=env)
    return env


def test_rows_as_json_and_csv_with_filters(env: dict[str, str]) -> None:
    rows = json.loads(cli("missed", "--json", env=env).stdout)
    assert [(r["unique_id"], r["status"], r["resolved_by"], r["callback_attempts"]) for r in rows] == [
        (e[0], e[2], e[4], e[6]) for e in EXPECTED]
    only = json.loads(cli("missed", "--json", "--enterprise", "0327", "--status", "got_through", env=env).stdout)
    assert [r["phone_number"] for r in only] == ["80441234567"]
    day = json.loads(cli("missed", "--json", "--date-from", "2025-07-04", "--date-to", "2025-07-04", env=env).stdout)
    assert [r["unique_id"] for r in day] == [EXPECTED[-1][0]]
    text = cli("missed", "--csv", "--date-to", "2025-07-03", env=env).stdout
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["unique_id"] for r in parsed] == [e[0] for e in EXPECTED[:-1]]
    table = cli("missed", env=env).stdout
    assert "called_back" in table and "+375291112233" in table


def test_summary_per_day_and_per_extension(env: dict[str, str]) -> None:
    days = json.loads(cli("missed", "--summary", "--json", env=env).stdout)
    assert [(d["day"], d["missed"], d["called_back"], d["got_through"], d["resolved_share"],
             d["median_seconds_to_callback"]) for d in days] == [
        ("2025-07-03", 4, 1, 1, 0.5, 82900.0), ("2025-07-04", 1, 0, 0, 0.0, None)]
    per_ext = json.loads(cli("missed", "--summary", "--by-extension", "--json", env=env).stdout)
    assert per_ext == [{"enterprise_id": "0327", "extension": "305", "callbacks": 1,
                        "median_seconds_to_callback": 82900.0}]
    assert "2025-07-03" in cli("missed", "--summary", env=env).stdout


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    assert cli("missed", "--enterprise", "9999", env=env, check=False).returncode == 2
    reversed_range = cli("missed", "--date-from", "2025-07-04", "--date-to", "2025-07-03", env=env, check=False)
    assert reversed_range.returncode == 2 and "reversed" in reversed_range.stderr
    assert cli("missed", "--status", "lost", env=env, check=False).returncode == 2
    assert cli("missed", "--by-extension", env=env, check=False).returncode == 2
