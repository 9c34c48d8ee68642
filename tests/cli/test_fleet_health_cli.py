"""``asterisk-pipeline fleet health`` as an operator runs it (a real process), on both databases:
the warehouse filled by real ``sync live`` processes over the local transport."""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from tests.support.cli import cli

TODAY = datetime.now(ZoneInfo("Europe/Minsk")).date()


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASTERISK_")}
    return {**clean, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(tmp_path / "home"),
            "ASTERISK_TRANSPORT": "local", "ASTERISK_LOCAL_LOGS_DIR": str(tmp_path / "logs"),
            "ASTERISK_HEALTH_FAILING_AFTER": "2", "ASTERISK_HEALTH_STALE_EVENT_MINUTES": "100000"}


def _day_file(env: dict[str, str], number: str, start_id: int) -> None:
    write_day_file(day_file_path(Path(env["ASTERISK_LOCAL_LOGS_DIR"]), number, TODAY), token=token_for(number),
                   day=TODAY, calls=5, seed=3, start_id=start_id, dirty_share=0.0)


def test_fleet_health_names_the_failing_pbx_and_exits_1_until_it_recovers(env: dict[str, str]) -> None:
    for number in ("0100", "0300", "0400"):
        cli("enterprise", "add", number, "--name", f"E{number}", env=env)
    _day_file(env, "0100", 1000)
    (Path(env["ASTERISK_LOCAL_LOGS_DIR"]) / "0300").mkdir(parents=True)  # a PBX without files
    for _ in range(2):
        assert cli("sync", "live", "--enterprise", "0100", "--enterprise", "0300", env=env, check=False).returncode == 1

    shown = cli("fleet", "health", "--json", env=env, check=False)
    assert shown.returncode == 1, shown.stderr
    records = {r["enterprise_id"]: r for r in map(json.loads, shown.stdout.splitlines())}
    assert list(records) == ["0100", "0300", "0400"]
    assert records["0100"]["status"] == "ok" and records["0100"]["rows_today"] > 0
    assert records["0300"]["status"] == "failing" and records["0300"]["consecutive_failures"] == 2
    assert records["0300"]["last_error_kind"] == "missing_file"
    assert records["0400"]["status"] == "unknown"  # active, never synced: no alarm

    table = cli("fleet", "health", env=env, check=False)
    assert table.returncode == 1
    failing_line = next(line for line in table.stdout.splitlines() if line.startswith("0300"))
    assert "failing" in failing_line and "missing_file" in failing_line
    assert table.stdout.splitlines()[-1] == "1 failing, 1 ok, 1 unknown"

    _day_file(env, "0300", 90_000)  # its file appears
    assert cli("sync", "live", env=env, check=False).returncode == 1  # 0400 has no directory at all
    cli("enterprise", "add", "0400", "--disabled", env=env)
    cli("sync", "live", env=env)
    healthy = cli("fleet", "health", "--json", env=env)
    assert [json.loads(line)["status"] for line in healthy.stdout.splitlines()] == ["ok", "ok"]


def test_help_documents_the_exit_codes(env: dict[str, str]) -> None:
    text = cli("fleet", "health", "--help", env=env).stdout
    assert "Exit codes: 0 no enterprise is stale or failing" in " ".join(text.split())
