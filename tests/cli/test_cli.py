"""The CLI as an operator uses it: a real process, the README's commands, its exit codes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.factories import append, create_day_file, hangup, row


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(tmp_path / "home")}


def test_import_file_prints_a_json_summary(env: dict[str, str], tmp_path: Path):
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, [row("dial", "1.1", Extensions=["201"]), hangup("1.1"), ("x", "dial", "1.1", "{", "ok")])
    cli("db", "upgrade", env=env)
    cli("enterprise", "add", "0327", "--name", "VOS", "--host", "vos.lan", "--secret", "topsecret", env=env)
    result = cli("import-file", str(path), "--enterprise", "0327", "--flow", "history", env=env)
    summary = json.loads(result.stdout.strip())
    assert summary["status"] == "success"
    assert (summary["rows_read"], summary["new_calls"], summary["new_events"], summary["duplicates"], summary["rejected"]) == (3, 1, 2, 0, 1)
    assert isinstance(summary["seconds"], float)
    assert "topsecret" not in result.stdout + result.stderr

    stats = json.loads(cli("stats", "--json", env=env).stdout)
    assert stats == [{
        "enterprise_id": "0327", "data_source": "downloaded", "day": None, "calls": 1,
        "answered": 1, "answered_share": 1.0, "avg_duration": 100.0, "legs_folded": 0, "transfers": 0,
    }]
    table = cli("stats", "--by-day", env=env).stdout
    assert "2025-07-03" in table and "100.0" in table
    listing = cli("enterprise", "list", env=env).stdout
    assert "0327" in listing and "topsecret" not in listing


def test_import_errors_are_clear(env: dict[str, str], tmp_path: Path):
    cli("db", "upgrade", env=env)
    missing = cli("import-file", str(tmp_path / "Listen_AMI_2025-07-03.db"), "--enterprise", "0327",
                  "--flow", "live", env=env, check=False)
    assert missing.returncode == 2 and "not in the enterprises table" in missing.stderr
    cli("enterprise", "add", "0327", env=env)
    gone = cli("import-file", str(tmp_path / "Listen_AMI_2025-07-03.db"), "--enterprise", "0327",
               "--flow", "live", env=env, check=False)
    assert gone.returncode == 1
    assert json.loads(gone.stdout)["error_kind"] == "missing_file"
    undated = cli("import-file", str(tmp_path / "x.db"), "--enterprise", "0327", "--flow", "live", env=env, check=False)
    assert undated.returncode == 2 and "--date" in undated.stderr
    bad = cli("import-file", "x.db", "--enterprise", "03|27", "--flow", "live", env=env, check=False)
    assert bad.returncode == 2 and "invalid enterprise number" in bad.stderr
    flow = cli("import-file", "x.db", "--enterprise", "0327", "--flow", "sideways", env=env, check=False)
    assert flow.returncode == 2


def test_commands_refuse_an_unmigrated_database(tmp_path: Path):
    env = {**os.environ, "ASTERISK_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = cli("stats", env=env, check=False)
    assert result.returncode == 2 and "db upgrade" in result.stderr
    zone = cli("stats", env={**env, "ASTERISK_PBX_TIMEZONE": "Mars/Olympus"}, check=False)
    assert zone.returncode == 2 and "unknown time zone" in zone.stderr
