"""A newcomer's first hour with the CLI (issue 20): the version, a read that opens nothing it
would create and says which database it looked at and how to name another, ``calls show`` with
each event once and its time zone named, and a pipe closed early without a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.cli import cli
from tests.support.factories import append, create_day_file, hangup, row
from tests.support.pg import PG_ADMIN_URL, new_pg_database

READS = [("stats",), ("stats", "--json", "--by-shape"), ("calls", "show", "1.1"), ("enterprise", "list")]
HINT = "--db URL or ASTERISK_DATABASE_URL=URL"


def _bare_env(home: Path) -> dict[str, str]:
    """The environment of a newcomer: no database configured, the default home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTERISK_")}
    return {**env, "ASTERISK_HOME": str(home)}


def _error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and result.stdout == "", (result.returncode, result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("asterisk-pipeline: error: "), line
    return line


def test_version_is_the_installed_distribution():
    done = cli("--version", env=dict(os.environ))
    assert done.stdout.strip() == f"asterisk-pipeline {version('asterisk-pipeline')}"


def test_reads_without_a_warehouse_create_nothing_and_say_how_to_name_one(tmp_path: Path):
    home = tmp_path / ".asterisk"
    env = _bare_env(home)
    for args in READS:
        line = _error(cli(*args, env=env, check=False))
        assert f"no warehouse at sqlite:///{home.resolve() / 'asterisk.db'}" in line, line
        assert "db upgrade" in line and HINT in line and "demo" not in line, line
    assert not home.exists()  # not the file, not even its directory

    demo = home / "demo" / "asterisk.db"  # where `make run` keeps its warehouse
    demo.parent.mkdir(parents=True)
    cli("db", "upgrade", "--db", f"sqlite:///{demo}", env=env)
    for args in READS:
        line = _error(cli(*args, env=env, check=False))
        assert f"(the demo's is sqlite:///{demo.resolve()})" in line, line
    assert sorted(p.name for p in home.iterdir()) == ["demo"]
    listed = cli("enterprise", "list", "--db", f"sqlite:///{demo}", env=env)  # told how: it works
    assert listed.stdout == ""


def test_no_schema_yet_names_the_database_with_its_password_masked(tmp_path: Path):
    empty = tmp_path / "empty.db"
    empty.touch()
    env = _bare_env(tmp_path / "home")
    for args in READS:
        line = _error(cli(*args, "--db", f"sqlite:///{empty}", env=env, check=False))
        assert f"the central database sqlite:///{empty} has no schema yet" in line and HINT in line, line
    assert empty.stat().st_size == 0  # a read wrote nothing into it

    with new_pg_database("ap_noschema") as name:
        url = make_url(PG_ADMIN_URL).set(database=name, password="s3cr3t-pw")  # trust auth
        for args in (("stats",), ("calls", "show", "1.1")):
            result = cli(*args, "--db", url.render_as_string(hide_password=False), env=env, check=False)
            line = _error(result)
            assert f"the central database {url.render_as_string(hide_password=True)} has no schema yet" in line
            assert "s3cr3t-pw" not in result.stderr and HINT in line
        engine = create_engine(url)
        with engine.connect() as conn:  # and created no table there
            assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
        engine.dispose()


def _bridged_call(path: Path, table: str, live: bool) -> None:
    """Call 1.1 answered by 201: the same rows in either table; the live bodies of the bridge
    rows carry BridgeUniqueid, the APIlogs ones do not (SPEC §2.2)."""
    bridge = {"BridgeUniqueid": "b7f0c2aa-0001"} if live else {}
    append(path, [
        row("start", "1.1", at="2025-07-03 10:00:00", Phone="+375291112233", Trunk="trunk1"),
        row("dial", "1.1", at="2025-07-03 10:00:02", Extensions=["201"], CallType=0),
        row("bridge", "1.1", at="2025-07-03 10:00:10", Channel="SIP/201-0001", CallerIDNum="201",
            ConnectedLineNum="+375291112233", **bridge),
        row("bridge", "1.1", at="2025-07-03 10:00:10", Channel="SIP/trunk1-0002",
            CallerIDNum="+375291112233", ConnectedLineNum="201", **bridge),
        hangup("1.1"),
    ], table=table)


def test_calls_show_lists_each_event_once_and_names_the_time_zone(db_url: str, tmp_path: Path):
    env = {**os.environ, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(tmp_path / "home"),
           "ASTERISK_PBX_TIMEZONE": "Europe/Moscow"}
    day_file = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    _bridged_call(day_file, "APIlogs", live=False)
    _bridged_call(day_file, "AlternativeAPIlogs", live=True)
    cli("enterprise", "add", "0327", env=env)
    for flow in ("history", "live"):
        cli("import-file", str(day_file), "--enterprise", "0327", "--flow", flow, env=env)

    shown = cli("calls", "show", "1.1", env=env).stdout
    assert "times: PBX-local, Europe/Moscow" in shown and "timeline (Europe/Moscow):" in shown
    assert "2025-07-03 10:00:00 → 2025-07-03 10:01:40" in shown  # the PBX's own clock
    entered = [line for line in shown.splitlines() if " enters " in line]
    assert len(entered) == 2, shown  # one line per channel, not one per flow that stored it
    assert all("2025-07-03 10:00:10" in line and "bridge b7f0c2aa" in line for line in entered), entered

    timeline = json.loads(cli("calls", "show", "1.1", "--json", env=env).stdout)["timeline"]
    assert [e["event"] for e in timeline] == ["start", "dial", "bridge", "bridge", "hangup"]
    assert all(e["tables"] == ["APIlogs", "AlternativeAPIlogs"] for e in timeline), timeline
    assert {e["source"].split("#")[0] for e in timeline if e["event"] == "bridge"} == {"AlternativeAPIlogs"}
    assert timeline[2]["at"] == "2025-07-03T07:00:10+00:00"  # JSON stays UTC


@pytest.mark.slow
def test_a_pipe_closed_early_ends_quietly_with_141(tmp_path: Path, sqlite_url: str):
    """``… | head``: the reader leaves while the CLI still writes. Every run either wrote all
    before the reader left (0) or exits 141 with nothing on stderr, never a traceback."""
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:  # ~150 KB of listing: more than a pipe holds
        conn.execute(text("INSERT INTO enterprises (number, name) VALUES (:n, :name)"),
                     [{"n": f"{i:05d}", "name": "x" * 60} for i in range(2000)])
    engine.dispose()
    env = {**os.environ, "ASTERISK_DATABASE_URL": sqlite_url, "ASTERISK_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "asterisk_pipeline.cli", "enterprise", "list"]
    for _ in range(10):  # head: reads one line and leaves
        done = subprocess.run(
            ["bash", "-c", 'set -o pipefail; "$@" | head -n 1', "pipe", *command],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )
        assert done.stdout.startswith("00000\t"), done.stdout[:200]
        assert done.returncode == 141 and done.stderr == "", (done.returncode, done.stderr)
    for _ in range(10):  # a reader that closes before the first write
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141 and stderr == "", stderr


@pytest.mark.parametrize("args", [("stats", "--json"), ("calls", "show", "1.1", "--json")])
def test_a_pipe_closed_before_the_answer_ends_quietly(tmp_path: Path, sqlite_url: str, args: tuple[str, ...]):
    env = {**os.environ, "ASTERISK_DATABASE_URL": sqlite_url, "ASTERISK_HOME": str(tmp_path / "home")}
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-m", "asterisk_pipeline.cli", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
        # stats always writes (141); calls show of an unknown call writes to stderr only (1)
        assert (code, stderr) in ((141, ""), (1, "asterisk-pipeline: no call holds UniqueId 1.1\n")), (code, stderr)
