"""A warehouse written by the previous version (no conversations), upgraded and rebuilt, equals a
fresh import of the same files; from the new schema on, rebuild and import give identical tables;
a rebuild killed half-way and run again gives the same result (SPEC §3, §4.3, issue: calls rebuild).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.sync.rebuild import RebuildScope, rebuild_calls
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import current_revision, upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations.examples import example_names, load_example, strip_bridge_ids
from tests.support.factories import append, create_day_file
from tests.support.pg import database_url, new_pg_database
from tests.support.snapshot import snapshot

REPO = Path(__file__).resolve().parents[2]
# The last version before conversations (one call per UniqueId, schema revision 0002).
PREVIOUS = "2d6f2be"
ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375000000003")


def _previous_version(tmp_path: Path) -> Path:
    """The previous release's package, exported from git (CI runs on a clone with history)."""
    target = tmp_path / "previous"
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", PREVIOUS, "asterisk_pipeline"],
            capture_output=True, check=True,
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.fail(f"cannot export the previous version {PREVIOUS} from git: {exc}")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def _mirror(tmp_path: Path, simulated_days: int = 0) -> Path:
    """The recorded conversations, as production writes them, in a local mirror of the PBX
    (plus simulated days of every conversation shape)."""
    root = tmp_path / "mirror"
    for offset in range(simulated_days):
        day = date(2025, 7, 1 + offset)
        write_day_file(day_file_path(root, ENT.number, day), token=token_for(ENT.number),
                           day=day, calls=1500, seed=offset, dirty_share=0.01)
    for name in example_names():
        example = load_example(name)
        day = example["rows"][0]["DateTime"][:10]
        path = root / ENT.number / f"Listen_AMI_{day}.db"
        if not path.exists():
            create_day_file(path)
        rows = [(r["DateTime"], r["event"], r["Uniqueid"], r["request"], "<Response [200]>") for r in example["rows"]]
        append(path, [(a, e, u, strip_bridge_ids(q, e), s) for a, e, u, q, s in rows], "APIlogs")
        append(path, [(a, e, u, q, "Timeout") for a, e, u, q, s in rows], "AlternativeAPIlogs")
    return root


def _files(mirror: Path) -> list[Path]:
    return sorted((mirror / ENT.number).glob("Listen_AMI_*.db"))


def _old_import(previous: Path, db: str, files: list[Path], home: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(previous), "ASTERISK_HOME": str(home)}

    def cli(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "asterisk_pipeline.cli", *args, "--db", db],
                              capture_output=True, text=True, env=env, check=False, cwd=previous)
        assert done.returncode == 0, done.stdout + done.stderr

    cli("db", "upgrade")
    cli("enterprise", "add", ENT.number, "--name", "VOS", "--host", "vos.vochi.lan", "--secret", "secret-327")
    for path in files:
        for flow in ("history", "live"):
            cli("import-file", str(path), "--enterprise", ENT.number, "--flow", flow)


def _fresh_import(engine: Engine, files: list[Path], settings: Settings) -> None:
    upgrade(engine)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, Enterprise(ENT.number, "VOS", "vos.vochi.lan", "secret-327"))
    for path in files:
        day = date.fromisoformat(path.stem.removeprefix("Listen_AMI_"))
        for flow in (Flow.HISTORY, Flow.LIVE):
            outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, flow, day))
            assert outcome.ok, outcome


def _conversation_tables(engine: Engine) -> dict[str, list[tuple]]:
    picture = snapshot(engine)
    picture.pop("cursors")
    return picture


@pytest.fixture
def mirror_settings(tmp_path: Path) -> Settings:
    mirror = _mirror(tmp_path)
    return Settings(home=tmp_path / "home", transport="local", local_logs_dir=mirror)


@contextmanager
def _empty_database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty warehouse URL (no schema: the previous version migrates it itself)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / (name + '.db')}"
        return
    with new_pg_database(f"ap_{name}") as database:
        yield database_url(database)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_previous_version_upgraded_and_rebuilt_equals_a_fresh_import(tmp_path: Path, mirror_settings: Settings, kind: str):
    with _empty_database(kind, tmp_path, "old") as old_db, _empty_database(kind, tmp_path, "fresh") as fresh_db:
        _upgrade_and_compare(tmp_path, mirror_settings, old_db, fresh_db)


def _upgrade_and_compare(tmp_path: Path, mirror_settings: Settings, old_db: str, fresh_db: str) -> None:
    files = _files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    _old_import(_previous_version(tmp_path), old_db, files, tmp_path / "oldhome")
    old = make_engine(old_db)
    assert current_revision(old) == "0002"
    upgrade(old)
    fresh = make_engine(fresh_db)
    _fresh_import(fresh, files, mirror_settings)
    assert _conversation_tables(old)["calls"] != _conversation_tables(fresh)["calls"]  # one call per UniqueId
    reports = rebuild_calls(old, Fleet.load(mirror_settings))
    assert {r.source for r in reports} == {"day file"}  # the previous version merged bridge rows
    assert all(not r.not_exact for r in reports)
    assert _conversation_tables(old) == _conversation_tables(fresh)
    # and rebuilding a new-schema warehouse changes nothing
    again = rebuild_calls(fresh, Fleet.load(mirror_settings))
    assert {r.source for r in again} == {"warehouse"}
    assert _conversation_tables(fresh) == _conversation_tables(old)
    old.dispose()
    fresh.dispose()


def test_rebuild_without_the_day_files_says_which_calls_may_differ(tmp_path: Path, mirror_settings: Settings):
    files = _files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    old_db = f"sqlite:///{tmp_path / 'old.db'}"
    _old_import(_previous_version(tmp_path), old_db, files, tmp_path / "oldhome")
    old = make_engine(old_db)
    upgrade(old)
    reports = rebuild_calls(old, Fleet.load(Settings(home=tmp_path / "nofiles")), RebuildScope(use_files=False))
    assert {r.source for r in reports} == {"events (previous version)"}
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    _fresh_import(fresh, files, mirror_settings)
    rebuilt, imported = _conversation_tables(old)["calls"], _conversation_tables(fresh)["calls"]
    flagged = {uid for r in reports for uid in r.not_exact}
    differing = {a[0] for a, b in zip(rebuilt, imported, strict=True) if a != b}
    assert differing <= flagged  # every call that differs is named
    old.dispose()
    fresh.dispose()


def _day_lines(path: str) -> int:
    with open(path) as out:
        return len([line for line in out if line.startswith("{") and line.endswith("\n")])


@pytest.mark.slow
def test_rebuild_killed_then_run_again_gives_the_same_warehouse(tmp_path: Path):
    mirror_settings = Settings(home=tmp_path / "home", transport="local",
                               local_logs_dir=_mirror(tmp_path, simulated_days=3))
    files = _files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    _old_import(_previous_version(tmp_path), db, files, tmp_path / "oldhome")
    engine = make_engine(db)
    upgrade(engine)
    env = {
        "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "ASTERISK_HOME": str(tmp_path / "home"),
        "ASTERISK_TRANSPORT": "local", "ASTERISK_LOCAL_LOGS_DIR": str(mirror_settings.local_logs_dir),
    }
    killed_mid_way = 0
    # Two kills at a fixed moment (wherever they land), one right after a day's line is printed
    # (between two days' transactions, however slow the machine is).
    for attempt, delay in enumerate((1.5, None, 4.5)):
        with open(tmp_path / f"rebuild-{attempt}.out", "w+") as out:
            proc = subprocess.Popen([sys.executable, "-m", "asterisk_pipeline.cli", "calls", "rebuild", "--db", db],
                                    env=env, stdout=out, stderr=subprocess.DEVNULL)
            if delay is not None:
                time.sleep(delay)
            else:
                deadline = time.monotonic() + 300
                while proc.poll() is None and time.monotonic() < deadline and not _day_lines(out.name):
                    time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            finished_days = _day_lines(out.name)
        killed_mid_way += 0 < finished_days < 2 * len(files)
    assert killed_mid_way  # at least one kill landed between two days' transactions
    done = subprocess.run([sys.executable, "-m", "asterisk_pipeline.cli", "calls", "rebuild", "--db", db],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    _fresh_import(fresh, files, mirror_settings)
    assert _conversation_tables(engine) == _conversation_tables(fresh)
    engine.dispose()
    fresh.dispose()


def test_rebuild_fills_shape_and_link_of_a_warehouse_imported_before_them(engine: Engine, mirror_settings: Settings):
    """Migration 0005 adds ``calls.shape`` and ``call_legs.link`` empty: ``calls rebuild`` fills
    them with exactly what an import computes (SPEC §3, §4.2)."""
    from sqlalchemy import text

    _fresh_import(engine, _files(mirror_settings.local_logs_dir), mirror_settings)  # type: ignore[arg-type]
    imported = _conversation_tables(engine)
    with write_transaction(engine) as conn:
        conn.execute(text("UPDATE calls SET shape = NULL"))
        conn.execute(text("UPDATE call_legs SET link = NULL"))
    assert _conversation_tables(engine) != imported
    rebuild_calls(engine, Fleet.load(mirror_settings))
    assert _conversation_tables(engine) == imported
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM calls WHERE shape IS NULL")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM call_legs WHERE link IS NULL")).scalar_one() == 0
