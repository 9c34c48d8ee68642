"""A warehouse written by the previous version (no conversations), upgraded and rebuilt, equals a
fresh import of the same files; from the new schema on, rebuild and import give identical tables;
a rebuild killed half-way and run again gives the same result (SPEC §3, §4.3, issue: calls rebuild).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync.rebuild import RebuildScope, rebuild_calls
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import current_revision, upgrade
from tests.support.versions import (
    REPO,
    conversation_tables,
    day_files,
    empty_database,
    export_version,
    import_fresh,
    import_with_version,
    recorded_mirror,
)

# The last version before conversations (one call per UniqueId, schema revision 0002).
PREVIOUS = "2d6f2be"
@pytest.fixture
def mirror_settings(tmp_path: Path) -> Settings:
    mirror = recorded_mirror(tmp_path)
    return Settings(home=tmp_path / "home", transport="local", local_logs_dir=mirror)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_previous_version_upgraded_and_rebuilt_equals_a_fresh_import(tmp_path: Path, mirror_settings: Settings, kind: str):
    with empty_database(kind, tmp_path, "old") as old_db, empty_database(kind, tmp_path, "fresh") as fresh_db:
        _upgrade_and_compare(tmp_path, mirror_settings, old_db, fresh_db)


def _upgrade_and_compare(tmp_path: Path, mirror_settings: Settings, old_db: str, fresh_db: str) -> None:
    files = day_files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    import_with_version(export_version(tmp_path, PREVIOUS), old_db, files, tmp_path / "oldhome")
    old = make_engine(old_db)
    assert current_revision(old) == "0002"
    upgrade(old)
    fresh = make_engine(fresh_db)
    import_fresh(fresh, files, mirror_settings)
    assert conversation_tables(old)["calls"] != conversation_tables(fresh)["calls"]  # one call per UniqueId
    reports = rebuild_calls(old, Fleet.load(mirror_settings))
    assert {r.source for r in reports} == {"day file"}  # the previous version merged bridge rows
    assert all(not r.not_exact for r in reports)
    assert conversation_tables(old) == conversation_tables(fresh)
    # and rebuilding a new-schema warehouse changes nothing
    again = rebuild_calls(fresh, Fleet.load(mirror_settings))
    assert {r.source for r in again} == {"warehouse"}
    assert conversation_tables(fresh) == conversation_tables(old)
    old.dispose()
    fresh.dispose()


def test_rebuild_without_the_day_files_says_which_calls_may_differ(tmp_path: Path, mirror_settings: Settings):
    files = day_files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    old_db = f"sqlite:///{tmp_path / 'old.db'}"
    import_with_version(export_version(tmp_path, PREVIOUS), old_db, files, tmp_path / "oldhome")
    old = make_engine(old_db)
    upgrade(old)
    reports = rebuild_calls(old, Fleet.load(Settings(home=tmp_path / "nofiles")), RebuildScope(use_files=False))
    assert {r.source for r in reports} == {"events (previous version)"}
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    import_fresh(fresh, files, mirror_settings)
    rebuilt, imported = conversation_tables(old)["calls"], conversation_tables(fresh)["calls"]
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
                               local_logs_dir=recorded_mirror(tmp_path, simulated_days=3))
    files = day_files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    import_with_version(export_version(tmp_path, PREVIOUS), db, files, tmp_path / "oldhome")
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
    import_fresh(fresh, files, mirror_settings)
    assert conversation_tables(engine) == conversation_tables(fresh)
    engine.dispose()
    fresh.dispose()


def test_rebuild_fills_shape_and_link_of_a_warehouse_imported_before_them(engine: Engine, mirror_settings: Settings):
    """Migration 0005 adds ``calls.shape`` and ``call_legs.link`` empty: ``calls rebuild`` fills
    them with exactly what an import computes (SPEC §3, §4.2)."""
    from sqlalchemy import text

    import_fresh(engine, day_files(mirror_settings.local_logs_dir), mirror_settings)  # type: ignore[arg-type]
    imported = conversation_tables(engine)
    with write_transaction(engine) as conn:
        conn.execute(text("UPDATE calls SET shape = NULL"))
        conn.execute(text("UPDATE call_legs SET link = NULL"))
    assert conversation_tables(engine) != imported
    rebuild_calls(engine, Fleet.load(mirror_settings))
    assert conversation_tables(engine) == imported
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM calls WHERE shape IS NULL")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM call_legs WHERE link IS NULL")).scalar_one() == 0
