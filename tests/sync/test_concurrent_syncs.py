"""Two live syncs of one enterprise at once leave the warehouse as one sync would (SPEC §4.3).

An operator's ``sync live`` beside the schedule fetches from the PBX before it waits for the
central database; whichever commits second finds the cursor moved by the first. That must read
as "someone else read these rows", never as a replaced file (SPEC §3).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, text

from asterisk_pipeline.model import BEFORE_FIRST_ROW, Enterprise, Flow, SourceRow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.pbx.local import LocalTransport
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.sync.cycles import fetch_above
from asterisk_pipeline.sync.importer import ImportRequest
from asterisk_pipeline.sync.sources import Anchors, FetchedRows
from asterisk_pipeline.sync.unit import run_import
from asterisk_pipeline.warehouse.cursors import read_cursor
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations import shapes
from tests.support.conversations.shapes import Pbx
from tests.support.factories import append, create_day_file
from tests.support.pg import fresh_warehouse_like
from tests.support.snapshot import snapshot

ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
LIVE = "AlternativeAPIlogs"


def _day_rows(start: str, n: int = 28) -> list[tuple]:
    """A busy stretch of every shape that crosses cycles (transfers, forwarding, internal)."""
    pbx = Pbx(start=start)
    makers = [
        lambda at: shapes.answered_incoming(pbx, at, "375291110001", "150"),
        lambda at: shapes.attended_transfer(pbx, at, "375291110002", ["150", "151", "152"]),
        lambda at: shapes.internal_call(pbx, at, "152", "151", misleading=True),
        lambda at: shapes.forwarded_to_mobile(pbx, at, "375291110003", "150", "375290000002", True),
        lambda at: shapes.unanswered_consultation(pbx, at, "375291110001", "151", "152"),
        lambda at: shapes.outgoing_call(pbx, at, "151", "375291110009"),
    ]
    for i in range(n):
        makers[i % len(makers)](i * 5.0)
    return pbx.sorted_rows()


def _warehouse(db_url: str, tmp_path: Path, pg_template: str, name: str) -> Engine:
    if name:
        (tmp_path / name).mkdir()
    engine = make_engine(fresh_warehouse_like(db_url, tmp_path / name, pg_template) if name else db_url)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    return engine


def _fetch(engine: Engine, directory: Path, day: date, settings: Settings) -> FetchedRows:
    """What a live sync fetches from the PBX before it opens its transaction."""
    with engine.connect() as conn:
        cursor = read_cursor(conn, ENT.number, day, LIVE)
    return fetch_above(LocalTransport(directory), day, LIVE, cursor.file_last_id, settings)


def _file_replaced_runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM sync_runs WHERE file_replaced IS NOT NULL")).scalar_one())


@pytest.mark.parametrize("later_commits_first", [True, False])
def test_interleaved_fetches_equal_one_import(
    db_url: str, pg_template: str, tmp_path: Path, later_commits_first: bool,
) -> None:
    """Deterministic: fetch, rows arrive, fetch again; the two commit in either order."""
    day = date(2025, 7, 3)
    rows = _day_rows("2025-07-03 10:00:00")
    settings = Settings(home=tmp_path / "home", live_import_all=True)
    directory = tmp_path / "pbx"
    path = create_day_file(directory / "Listen_AMI_2025-07-03.db")
    engine = _warehouse(db_url, tmp_path, pg_template, "")
    tz = ZoneInfo("Europe/Minsk")
    thirds = [len(rows) // 3, 2 * len(rows) // 3, len(rows)]
    outcomes = []
    append(path, rows[: thirds[0]], LIVE)
    outcomes.append(import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.LIVE, day)))
    append(path, rows[thirds[0] : thirds[1]], LIVE)
    early = _fetch(engine, directory, day, settings)
    append(path, rows[thirds[1] :], LIVE)
    late = _fetch(engine, directory, day, settings)
    assert len(late.fetched) > len(early.fetched) > 0
    for source in ((late, early) if later_commits_first else (early, late)):
        request = ImportRequest(ENT, Flow.LIVE, day, tz, live_import_all=settings.live_import_all)
        outcomes.append(run_import(engine, request, source))
    outcomes.append(import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.LIVE, day)))
    assert all(o.ok and o.file_replaced is None for o in outcomes), outcomes
    assert sum(o.rows_read for o in outcomes) == len(rows)  # every row read exactly once
    assert _file_replaced_runs(engine) == 0

    once = _warehouse(db_url, tmp_path, pg_template, "once")
    assert import_day_file(once, Fleet.load(settings), ENT, LocalDayFile(path, Flow.LIVE, day)).ok
    assert snapshot(engine) == snapshot(once)
    engine.dispose()
    once.dispose()


def test_moved_forward_past_the_fetch_is_not_a_replaced_file() -> None:
    """The unit rule: a cursor beyond what a fetch holds claims nothing about the file."""
    fetched = [SourceRow(i, "2025-07-03 10:00:00", "dial", f"1.{i}", "{}", "ok") for i in range(6, 11)]
    source = FetchedRows(fetched, 5, Anchors(fetched[0], None))
    assert not source.anchors(12).known
    assert [r.id for chunk in source.rows(12) for r in chunk] == []
    assert not source.anchors(3).known
    # ...but a fetch that itself found the file replaced at that cursor (and read it again from
    # its start) keeps saying so to the import that finds the same cursor
    again = FetchedRows(fetched, BEFORE_FIRST_ROW, Anchors(None, None), seen=(12, Anchors(fetched[0], None)))
    assert again.anchors(12).known and again.anchors(12).at_cursor is None
    assert not again.anchors(13).known


def _hold_write_lock(db_url: str) -> tuple[object, object]:
    """Hold what an import waits for: SQLite's write lock, or the enterprise's advisory lock."""
    holder = create_engine(db_url, connect_args={"timeout": 60} if db_url.startswith("sqlite") else {})
    conn = holder.connect()
    if db_url.startswith("sqlite"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"),
                     {"k": f"asterisk-pipeline:import:{ENT.number}"})
    return holder, conn


def test_two_cli_syncs_behind_a_held_lock_equal_one_import(
    db_url: str, pg_template: str, tmp_path: Path,
) -> None:
    """Natural: two ``sync live`` processes fetch at different moments, both wait behind a held
    write lock, then commit one after the other; the warehouse equals one import."""
    tz = ZoneInfo("Europe/Minsk")
    today = datetime.now(UTC).astimezone(tz).date()
    if datetime.now(UTC).astimezone(tz).hour == 23 and datetime.now(UTC).astimezone(tz).minute >= 55:
        time.sleep(600)  # never straddle the PBX's midnight: the live window would move
        today = datetime.now(UTC).astimezone(tz).date()
    rows = _day_rows(f"{today.isoformat()} 00:10:00")
    mirror = tmp_path / "mirror"
    path = create_day_file(mirror / ENT.number / f"Listen_AMI_{today.isoformat()}.db")
    engine = _warehouse(db_url, tmp_path, pg_template, "")
    env = {
        **os.environ, "ASTERISK_DATABASE_URL": db_url, "ASTERISK_HOME": str(tmp_path / "home"),
        "ASTERISK_TRANSPORT": "local", "ASTERISK_LOCAL_LOGS_DIR": str(mirror),
        "ASTERISK_LIVE_IMPORT_ALL": "true",
    }
    command = [sys.executable, "-m", "asterisk_pipeline.cli", "sync", "live", "--enterprise", ENT.number]
    half = len(rows) // 2
    append(path, rows[:half], LIVE)
    holder, lock = _hold_write_lock(db_url)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # it fetches the first half, then waits for the lock
    append(path, rows[half:], LIVE)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    lock.close()  # type: ignore[attr-defined]
    holder.dispose()  # type: ignore[attr-defined]
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], results
    assert "file_replaced" not in "".join(out for out, _ in results)
    assert _file_replaced_runs(engine) == 0

    once = _warehouse(db_url, tmp_path, pg_template, "once")
    settings = Settings(home=tmp_path / "home2", live_import_all=True)
    assert import_day_file(once, Fleet.load(settings), ENT, LocalDayFile(path, Flow.LIVE, today)).ok
    mine, theirs = snapshot(engine), snapshot(once)
    assert mine["calls"] == theirs["calls"] and mine["legs"] == theirs["legs"]
    assert mine == theirs
    engine.dispose()
    once.dispose()
