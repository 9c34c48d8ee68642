"""The CLI at its edges, as an operator meets them: a warehouse on a read-only file system, a
database URL that is wrong or unreachable, an enterprise number with a typo. Each ends in one
line on stderr (passwords masked) and the README's exit code, never a traceback."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from asterisk_pipeline.cli.base import READ_ONLY_COMMANDS
from asterisk_pipeline.warehouse.db import mask_url, url_password
from tests.support.cli import cli
from tests.support.dagster_dev import free_port
from tests.support.factories import append, create_day_file, hangup, row
from tests.support.pg import service_missing

SECRET = "s3cr3t-pw"  # made up; must never be printed
DAY = "2025-07-03"


@contextmanager
def read_only_mount(directory: Path) -> Iterator[None]:
    """``directory`` turned into a read-only file system (a read-only bind mount over itself).

    The suite runs as root, and root ignores file modes: only a read-only mount refuses it.
    Needs root and mount(8): skips on a laptop without them, fails in CI."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        service_missing("root and mount(8) (a read-only bind mount)")
    bound = subprocess.run(["mount", "--bind", str(directory), str(directory)],
                           capture_output=True, text=True, check=False)
    if bound.returncode != 0:
        service_missing(f"a bind mount ({bound.stderr.strip()})")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)],
                                   capture_output=True, text=True, check=False)
        if remounted.returncode != 0:
            service_missing(f"a read-only remount ({remounted.stderr.strip()})")
        with pytest.raises(OSError, match="Read-only file system"):  # root really cannot write
            (directory / "probe").touch()
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def _warehouse(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """An embedded warehouse in its own directory, one enterprise, one imported call (1.1)."""
    directory = tmp_path / "warehouse"
    env = {
        **os.environ,
        "ASTERISK_DATABASE_URL": f"sqlite:///{directory / 'asterisk.db'}",
        "ASTERISK_HOME": str(tmp_path / "home"),
        "ASTERISK_TRANSPORT": "local",  # a sync never reaches for SSH here
        "ASTERISK_LOCAL_LOGS_DIR": str(tmp_path / "logs"),
    }
    day_file = create_day_file(tmp_path / f"Listen_AMI_{DAY}.db")
    append(day_file, [row("dial", "1.1", Extensions=["201"]), hangup("1.1")])
    cli("db", "upgrade", env=env)
    cli("enterprise", "add", "0327", "--name", "VOS", "--secret", SECRET, env=env)
    return env, directory, day_file


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    """The command failed with ``code`` and said why in one line, without a traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("asterisk-pipeline: error: "), result.stderr
    return lines[0]


READS = [
    ("stats", "--json"),
    ("stats", "--by-day", "--enterprise", "0327"),
    ("stats", "--json", "--by-extension"),
    ("calls", "show", "1.1", "--json"),
    ("calls", "show", "1.1", "--enterprise", "0327"),
    ("enterprise", "list"),
    ("missed", "--json"),
    ("calls", "search", "--json", "--enterprise", "0327"),
]


def _writes(day_file: Path) -> list[tuple[str, ...]]:
    return [
        ("db", "upgrade"),
        ("enterprise", "add", "0500"),
        ("import-file", str(day_file), "--enterprise", "0327", "--flow", "live"),
        ("sync", "live"),
        ("sync", "history", "--enterprise", "0327", "--date-from", DAY, "--date-to", DAY),
        ("calls", "rebuild"),
    ]


@pytest.mark.slow
def test_a_read_only_warehouse_answers_reads_and_refuses_writes(tmp_path: Path):
    env, directory, day_file = _warehouse(tmp_path)
    cli("import-file", str(day_file), "--enterprise", "0327", "--flow", "history", env=env)
    before = {args: cli(*args, env=env).stdout for args in READS}
    assert json.loads(before[("stats", "--json")])[0]["calls"] == 1
    files = _digest(directory)
    assert list(files) == ["asterisk.db"]  # the last connection to close removed the WAL

    with read_only_mount(directory):
        for args in READS:
            assert cli(*args, env=env).stdout == before[args], args
        for args in _writes(day_file):
            line = _one_line_error(cli(*args, env=env, check=False))
            assert "is read-only" in line and "read-only file system" in line, (args, line)
            assert f"only {READ_ONLY_COMMANDS} work there" in line
    assert _digest(directory) == files  # not a byte written, no -wal or -shm left behind


def test_a_read_only_warehouse_shows_what_its_wal_still_holds(tmp_path: Path):
    """A snapshot taken while a writer had the database open keeps pages in -wal: the read-only
    open must read them (``immutable`` alone would show the main file as it was before)."""
    env, directory, day_file = _warehouse(tmp_path)
    database = directory / "asterisk.db"
    holder = sqlite3.connect(database)  # while it is open, the import's close cannot checkpoint
    try:
        holder.execute("SELECT count(*) FROM calls").fetchone()
        cli("import-file", str(day_file), "--enterprise", "0327", "--flow", "history", env=env)
        assert (directory / "asterisk.db-wal").stat().st_size > 0
        main_file_only = sqlite3.connect(f"file:{database}?immutable=1", uri=True)
        assert main_file_only.execute("SELECT count(*) FROM calls").fetchone() == (0,)
        main_file_only.close()
        with read_only_mount(directory):
            stats = json.loads(cli("stats", "--json", env=env).stdout)
            assert [(s["enterprise_id"], s["calls"]) for s in stats] == [("0327", 1)]
            shown = json.loads(cli("calls", "show", "1.1", "--json", env=env).stdout)
            assert shown["call"]["unique_id"] == "1.1"
    finally:
        holder.close()


def test_reads_of_a_missing_warehouse_create_nothing(tmp_path: Path):
    missing = tmp_path / "nowhere" / "asterisk.db"
    env = {**os.environ, "ASTERISK_DATABASE_URL": f"sqlite:///{missing}", "ASTERISK_HOME": str(tmp_path)}
    for args in READS:
        line = _one_line_error(cli(*args, env=env, check=False))
        assert f"no warehouse at sqlite:///{missing}" in line and "db upgrade" in line
        assert "--db URL or ASTERISK_DATABASE_URL" in line
    assert not missing.parent.exists()


def _bad_urls() -> list[tuple[str, str]]:
    """(URL, what the message must show of it) for URLs no database is behind."""
    closed = free_port()  # bound and closed again: nothing listens there
    return [
        ("not a url", "not a url"),
        (f"postgresql://ops:{SECRET}@127.0.0.1:notaport/calls", "postgresql://ops:***@127.0.0.1:notaport/calls"),
        (f"nosuchdatabase://ops:{SECRET}@127.0.0.1/calls", "nosuchdatabase://ops:***@127.0.0.1/calls"),
        (f"postgresql://ops:{SECRET}@127.0.0.1:{closed}/calls", f"postgresql://ops:***@127.0.0.1:{closed}/calls"),
        (f"postgresql+psycopg://ops:{SECRET}@pg.invalid/calls", "postgresql+psycopg://ops:***@pg.invalid/calls"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("args", [("stats",), ("sync", "live"), ("db", "upgrade"), ("enterprise", "list")])
def test_a_wrong_or_unreachable_database_url_is_one_masked_line(tmp_path: Path, args: tuple[str, ...]):
    base = {**os.environ, "ASTERISK_HOME": str(tmp_path)}
    for url, shown in _bad_urls():
        for env, extra in (({**base, "ASTERISK_DATABASE_URL": url}, ()), (base, ("--db", url))):
            result = cli(*args, *extra, env=env, check=False)
            line = _one_line_error(result)
            assert shown in line, line
            assert SECRET not in result.stdout + result.stderr


def test_postgresql_wrong_database_name_and_printed_urls_are_masked(pg_url: str, tmp_path: Path):
    env = {**os.environ, "ASTERISK_HOME": str(tmp_path)}
    with_password = make_url(pg_url).set(password=SECRET)  # trust auth: the password is not checked
    wrong = with_password.set(database=f"{with_password.database}_nosuch")
    wrong_url = wrong.render_as_string(hide_password=False)
    for args in (("stats",), ("sync", "live"), ("calls", "show", "1.1")):
        result = cli(*args, "--db", wrong_url, env=env, check=False)
        line = _one_line_error(result)
        assert wrong.render_as_string(hide_password=True) in line and "does not exist" in line, line
        assert SECRET not in result.stdout + result.stderr
    upgraded = cli("db", "upgrade", "--db", with_password.render_as_string(hide_password=False), env=env)
    assert with_password.render_as_string(hide_password=True) in upgraded.stdout
    assert SECRET not in upgraded.stdout + upgraded.stderr


@pytest.fixture
def fleet_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """A migrated warehouse (SQLite and PostgreSQL) with 0327 active and 0400 disabled."""
    env = {**os.environ, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(tmp_path / "home"),
           "ASTERISK_TRANSPORT": "local", "ASTERISK_LOCAL_LOGS_DIR": str(tmp_path / "logs")}
    cli("enterprise", "add", "0327", "--name", "VOS", env=env)
    cli("enterprise", "add", "0400", "--disabled", env=env)
    return env


@pytest.mark.slow
def test_an_unknown_enterprise_exits_2_in_every_command(fleet_env: dict[str, str], db_url: str,
                                                        tmp_path: Path):
    day_file = create_day_file(tmp_path / f"Listen_AMI_{DAY}.db")
    commands: list[tuple[str, ...]] = [
        ("sync", "live", "--enterprise", "9999"),
        ("sync", "live", "--enterprise", "0327", "--enterprise", "9999"),
        ("sync", "history", "--enterprise", "9999", "--date-from", DAY, "--date-to", DAY),
        ("import-file", str(day_file), "--enterprise", "9999", "--flow", "live"),
        ("stats", "--enterprise", "9999"),
        ("stats", "--json", "--by-extension", "--enterprise", "0327", "--enterprise", "9999"),
        ("calls", "show", "1.1", "--enterprise", "9999"),
        ("calls", "rebuild", "--enterprise", "9999"),
    ]
    for args in commands:
        line = _one_line_error(cli(*args, env=fleet_env, check=False))
        assert "enterprise 9999 is not in the enterprises table" in line, (args, line)
        assert "0327" not in line.split("error: ", 1)[1], line  # only the unknown one is named
    both = _one_line_error(cli("stats", "--enterprise", "9998", "--enterprise", "9999", env=fleet_env,
                               check=False))
    assert "enterprises 9998, 9999 are not in the enterprises table" in both
    for args in (("sync", "live", "--enterprise", "0400"),
                 ("sync", "history", "--enterprise", "0400", "--date-from", DAY, "--date-to", DAY)):
        assert "enterprise 0400 is inactive" in _one_line_error(cli(*args, env=fleet_env, check=False))
    mixed = _one_line_error(cli("sync", "live", "--enterprise", "9999", "--enterprise", "0400",
                                env=fleet_env, check=False))
    assert "9999 is not in the enterprises table" in mixed and "0400 is inactive" in mixed
    for args in (("stats", "--enterprise", "03|27"), ("enterprise", "add", "03|27"),
                 ("calls", "show", "1.1", "--enterprise", "03|27")):
        typo = cli(*args, env=fleet_env, check=False)  # the argument's type: argparse's usage error
        assert typo.returncode == 2 and typo.stdout == "", (args, typo.stderr)
        assert "argument" in typo.stderr and "invalid enterprise number '03|27'" in typo.stderr
        assert "Traceback" not in typo.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:  # a refused sync was not even attempted
        assert conn.execute(text("SELECT count(*) FROM sync_runs")).scalar() == 0
    engine.dispose()


def test_reads_accept_an_inactive_enterprise_or_one_that_only_has_calls(fleet_env: dict[str, str],
                                                                       db_url: str, tmp_path: Path):
    day_file = create_day_file(tmp_path / f"Listen_AMI_{DAY}.db")
    append(day_file, [row("dial", "1.1", Extensions=["201"]), hangup("1.1")])
    cli("import-file", str(day_file), "--enterprise", "0327", "--flow", "history", env=fleet_env)
    assert json.loads(cli("stats", "--json", "--enterprise", "0400", env=fleet_env).stdout) == []
    engine = create_engine(db_url)
    with engine.begin() as conn:  # the platform removed 0327; its calls stay in the warehouse
        conn.execute(text("DELETE FROM enterprises WHERE number = '0327'"))
    engine.dispose()
    stats = json.loads(cli("stats", "--json", "--enterprise", "0327", env=fleet_env).stdout)
    assert [(s["enterprise_id"], s["calls"]) for s in stats] == [("0327", 1)]
    assert cli("calls", "show", "1.1", "--enterprise", "0327", env=fleet_env).returncode == 0
    gone = _one_line_error(cli("sync", "live", "--enterprise", "0327", env=fleet_env, check=False))
    assert "enterprise 0327 is not in the enterprises table" in gone


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://ops:pw@db:5432/calls", "postgresql://ops:***@db:5432/calls"),
    ("postgresql://ops:p@ss@db/calls", "postgresql://ops:***@db/calls"),  # a raw '@': all of it
    ("postgresql://ops:pw@db:port/calls", "postgresql://ops:***@db:port/calls"),  # unparsable
    ("postgresql://ops@db/calls?sslmode=require&password=pw", "postgresql://ops@db/calls?sslmode=require&password=***"),
    ("http://admin:pw@dagster.lan:3000/a%20b/?x=1", "http://admin:***@dagster.lan:3000/a%20b/?x=1"),
    ("sqlite:////srv/a@b/asterisk.db", "sqlite:////srv/a@b/asterisk.db"),
    ("not a url", "not a url"),
])
def test_mask_url_hides_the_password_and_keeps_the_rest(url: str, masked: str):
    assert mask_url(url) == masked
    password = url_password(url)
    assert (password is None) == ("***" not in masked)
    assert password is None or password not in mask_url(url)
