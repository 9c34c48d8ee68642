"""Loading on SQLite and PostgreSQL: idempotence, flows, late hangups, bad input, failures."""
from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, SyncOutcome, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.factories import append, body, create_day_file, hangup, row
from tests.support.snapshot import count, snapshot

DAY = date(2025, 7, 3)
ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375001")
OTHER = Enterprise("0100", "Radis1", "radis.vochi.lan", "secret-100", "10.88.10.14", "375002")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, read_chunk_rows=100)


@pytest.fixture
def enterprises(engine: Engine) -> Engine:
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
        upsert_enterprise(conn, OTHER)
    return engine


def run(engine: Engine, path: Path, flow: Flow, settings: Settings, enterprise: Enterprise = ENT, **kw) -> SyncOutcome:
    outcome = import_day_file(engine, Fleet.load(settings), enterprise, LocalDayFile(path, flow, DAY), **kw)
    assert outcome.ok, outcome
    return outcome


def one_call(uid: str, *, answered: bool = True, status: str = "<Response [200]>", t: int = 0) -> list:
    at = lambda s: f"2025-07-03 10:{t:02d}:{s:02d}"
    return [
        row("start", uid, at(0), status, Phone="+375291112233", CallType=0, Trunk="trunk1"),
        row("dial", uid, at(1), status, Phone="+375291112233", Extensions=["201", "202"], CallType=0),
        row("bridge_create", "", at(2), status, BridgeUniqueid=f"b-{uid}"),
        row("bridge", uid, at(5), status, CallerIDNum="202", CallerIDName="Иван | \"Q\""),
        hangup(uid, at=at(40), status=status, start=at(0), end=at(40),
               call_status="2" if answered else "0", extensions=("202",) if answered else ("201", "202")),
    ]


def day_file(tmp_path: Path, rows: list, tables=("APIlogs", "AlternativeAPIlogs")) -> Path:
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    for table in tables:
        append(path, rows, table)
    return path


def test_import_twice_leaves_the_same_database(enterprises: Engine, tmp_path: Path, settings: Settings):
    rows = [r for i in range(30) for r in one_call(f"17515.{i}", answered=i % 3 == 0, t=i)]
    path = day_file(tmp_path, rows)
    first = run(enterprises, path, Flow.HISTORY, settings)
    assert (first.rows_read, first.new_calls, first.rejected) == (150, 30, 0)
    assert first.new_events == 150 and first.duplicates == 0
    picture = snapshot(enterprises, with_ids=True)
    again = run(enterprises, path, Flow.HISTORY, settings)
    assert again.rows_read == 0 and again.new_calls == 0
    forced = run(enterprises, path, Flow.HISTORY, settings, force=True)
    assert forced.rows_read == 150 and forced.new_events == 0 and forced.duplicates == 150
    assert snapshot(enterprises, with_ids=True) == picture
    assert count(enterprises, "calls", "is_answered") == 10
    assert count(enterprises, "call_events", "call_id IS NULL") == 30  # bridge_create rows


def test_copies_of_rows_from_earlier_chunks_are_duplicates(enterprises: Engine, tmp_path: Path, settings: Settings):
    """The import no longer asks the warehouse about every identity of every chunk: copies of
    rows read chunks earlier (a retry, a bridge_create without UniqueId, rows of a call written
    long before) are still found, in a first read and in a read after it."""
    calls = [one_call(f"9.{i}", t=i) for i in range(40)]  # 200 rows: two chunks of 100
    rows = [r for call in calls for r in call]
    late = [calls[0][-1], calls[0][2], calls[1][0], calls[39][1]]  # copies, chunks later
    path = day_file(tmp_path, rows + late + [hangup("9.99", start="2025-07-03 11:00:00")], tables=("APIlogs",))
    first = run(enterprises, path, Flow.HISTORY, settings)
    assert first.rows_read == 205 and first.duplicates == 4 and first.new_events == 201
    append(path, late + [calls[2][0], hangup("9.98", start="2025-07-03 11:00:00")], "APIlogs")
    again = run(enterprises, path, Flow.HISTORY, settings)
    assert again.rows_read == 6 and again.duplicates == 5 and again.new_events == 1
    assert count(enterprises, "call_events") == 202
    assert count(enterprises, "calls") == 42


def test_history_then_live_same_day_gives_no_duplicates(enterprises: Engine, tmp_path: Path, settings: Settings):
    rows = [r for i in range(10) for r in one_call(f"2.{i}", status="Timeout", t=i)]
    path = day_file(tmp_path, rows)
    run(enterprises, path, Flow.HISTORY, settings)
    live = run(enterprises, path, Flow.LIVE, settings)
    assert live.new_calls == 0 and live.new_events == 0 and live.duplicates == 50
    assert count(enterprises, "calls") == 10
    assert count(enterprises, "calls", "data_source = 'downloaded'") == 10
    assert count(enterprises, "call_events") == 50


def test_live_then_history_keeps_the_live_call(enterprises: Engine, tmp_path: Path, settings: Settings):
    path = day_file(tmp_path, one_call("3.1", status="Timeout"))
    run(enterprises, path, Flow.LIVE, settings)
    run(enterprises, path, Flow.HISTORY, settings)
    assert count(enterprises, "calls", "data_source = 'live'") == 1
    assert count(enterprises, "calls") == 1


def test_live_flow_skips_calls_whose_hangup_was_delivered(enterprises: Engine, tmp_path: Path, tmp_path_factory):
    rows = one_call("4.1", status="<Response [200]>") + one_call("4.2", status="''", t=1)
    path = day_file(tmp_path, rows, tables=("AlternativeAPIlogs",))
    settings = Settings(home=tmp_path)
    outcome = run(enterprises, path, Flow.LIVE, settings)
    assert outcome.new_calls == 1 and outcome.new_events == 10
    with enterprises.connect() as conn:
        assert conn.execute(text("SELECT unique_id, data_source FROM calls")).all() == [("4.2", "live")]
    everything = Settings(home=tmp_path, live_import_all=True)
    assert run(enterprises, path, Flow.LIVE, everything, force=True).new_calls == 1
    assert count(enterprises, "calls") == 2


def test_hangup_in_a_later_batch_links_earlier_events(enterprises: Engine, tmp_path: Path, settings: Settings):
    rows = one_call("5.1", status="Timeout")
    path = day_file(tmp_path, rows[:4], tables=("AlternativeAPIlogs",))
    first = run(enterprises, path, Flow.LIVE, settings)
    assert first.new_calls == 0 and first.new_events == 4
    assert count(enterprises, "call_events", "call_id IS NULL") == 4
    append(path, rows[4:], "AlternativeAPIlogs")
    second = run(enterprises, path, Flow.LIVE, settings)
    assert second.rows_read == 1 and second.new_calls == 1
    assert count(enterprises, "call_events", "call_id IS NOT NULL") == 4  # all but bridge_create
    with enterprises.connect() as conn:
        parts = conn.execute(text(
            "SELECT extension, participant_status, ring_order, answer_time IS NOT NULL,"
            " dial_start IS NOT NULL FROM call_participants ORDER BY ring_order"
        )).all()
    assert [tuple(p) for p in parts] == [("201", "no_answer", 1, False, True), ("202", "answered", 2, True, True)]


def test_incremental_live_import_equals_one_import(engine: Engine, db_url: str, tmp_path: Path, settings: Settings, pg_template):
    """Rows arriving over many cycles end as one import of the whole file would leave them."""
    rows = []
    for i in range(12):
        call = one_call(f"6.{i}", answered=i % 2 == 0, status="<Response [500]>", t=i)
        rows += call + [call[-1][:4] + ("''",)]  # a retry row of the hangup
        rows.append(hangup(f"6.{i}", status="Timeout", end="", call_status="1"))  # intermediate
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    path = create_day_file(tmp_path / "a" / "Listen_AMI_2025-07-03.db")
    for start in range(0, len(rows), 7):
        append(path, rows[start : start + 7], "AlternativeAPIlogs")
        run(engine, path, Flow.LIVE, settings)
    incremental = snapshot(engine)

    from asterisk_pipeline.warehouse.db import make_engine
    from asterisk_pipeline.warehouse.migrate import upgrade

    whole_url = f"sqlite:///{tmp_path / 'whole.db'}"
    whole = make_engine(whole_url)
    upgrade(whole)
    with write_transaction(whole) as conn:
        upsert_enterprise(conn, ENT)
    run(whole, path, Flow.LIVE, settings)
    assert snapshot(whole) == incremental
    assert len(incremental["calls"]) == 12
    whole.dispose()


def test_bad_input_is_stored_or_rejected_never_lost(enterprises: Engine, tmp_path: Path, settings: Settings):
    big = "x" * 100_000
    nasty = "'); DROP TABLE calls;-- | \n\t\"quoted\" Кириллица"
    rows = [
        ("2025-07-03 10:00:00", "dial", "7.1", "{not json", "ok"),
        ("2025-07-03 10:00:00", "dial", "7.1", "[1, 2, 3]", "ok"),
        ("2025-07-03 10:00:00", "dial", "7.1", None, "ok"),
        ("2025-07-03 10:00:00", "hangup", "", body(Phone="1"), "ok"),
        ("2025-07-03 10:00:00", "dial", "7.1", body(UniqueId="7.1", Blob=big), None),
        ("bad time", nasty, "7.1", body(UniqueId="7.1", Phone=nasty), nasty),
        ("2025-07-03 10:00:00", "dial", None, body(Phone="no uid anywhere"), "ok"),
        hangup("7.1", phone=nasty, extensions=(nasty, "201"), trunk="tr|unk\n"),
        ("2025-07-03 10:00:00", 42, 17515.25, '{"k": 1}', 200),
    ]
    path = day_file(tmp_path, rows, tables=("APIlogs",))
    outcome = run(enterprises, path, Flow.HISTORY, settings)
    assert outcome.rows_read == len(rows)
    assert outcome.rejected == 4
    assert outcome.new_events + outcome.duplicates + outcome.rejected == len(rows)
    with enterprises.connect() as conn:
        reasons = [r[0] for r in conn.execute(text("SELECT reason FROM rejected_events ORDER BY source_id"))]
        assert reasons[0].startswith("invalid JSON") and reasons[1].startswith("JSON is not an object")
        assert reasons[2] == "request is NULL" and reasons[3] == "hangup without UniqueId"
        raw = conn.execute(text("SELECT raw_text FROM rejected_events WHERE source_id = 1")).scalar_one()
        assert raw == "{not json"
        call = conn.execute(text("SELECT phone_number, trunk, main_extension FROM calls")).one()
        assert tuple(call) == (nasty, "tr|unk\n", nasty)
        types = {r[0] for r in conn.execute(text("SELECT event_type FROM call_events"))}
        assert nasty in types and "42" in types
        sizes = [len(r[0]) for r in conn.execute(text(
            "SELECT CAST(raw_data AS TEXT) FROM call_events WHERE event_type = 'dial' AND unique_id = '7.1'"))]
        assert max(sizes) > 100_000
    assert count(enterprises, "calls") == 1  # the tables survived the SQL-looking strings


def test_same_uniqueid_in_two_enterprises_is_two_calls(enterprises: Engine, tmp_path: Path, settings: Settings):
    """UniqueIds are unique per PBX only (SPEC §3): each enterprise keeps its own call."""
    path = day_file(tmp_path, one_call("8.1"))
    run(enterprises, path, Flow.HISTORY, settings, enterprise=ENT)
    other = run(enterprises, path, Flow.HISTORY, settings, enterprise=OTHER)
    assert other.conflicts == 0 and other.new_calls == 1
    with enterprises.connect() as conn:
        owners = conn.execute(text("SELECT enterprise_id FROM calls ORDER BY enterprise_id")).scalars().all()
        assert owners == ["0100", "0327"]
        linked = conn.execute(text(
            "SELECT count(*) FROM call_events e JOIN calls c ON c.id = e.call_id"
            " WHERE e.enterprise_id = '0100' AND c.enterprise_id = '0100'"
        )).scalar_one()
    assert linked == 4  # all but bridge_create


@pytest.mark.parametrize("kind", ["missing_file", "no_table", "corrupt", "locked"])
def test_unreadable_file_imports_nothing_and_is_recorded_as_failed(enterprises: Engine, tmp_path: Path, kind: str):
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    settings = Settings(home=tmp_path, sqlite_busy_timeout_s=0.2)
    if kind == "no_table":
        create_day_file(path, tables=("ScriptEvents",))
    elif kind == "corrupt":
        path.write_bytes(b"garbage" * 1000)
    elif kind == "locked":
        day_file(tmp_path, one_call("9.1"), tables=("APIlogs",))
    locker = sqlite3.connect(path, isolation_level=None) if kind == "locked" else None
    if locker:
        locker.execute("BEGIN EXCLUSIVE")
    try:
        outcome = import_day_file(enterprises, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    finally:
        if locker:
            locker.execute("ROLLBACK")
            locker.close()
    assert not outcome.ok and outcome.error_kind == kind and outcome.error
    assert count(enterprises, "calls") == 0 and count(enterprises, "call_events") == 0
    assert count(enterprises, "sync_cursors") == 0
    with enterprises.connect() as conn:
        sync = conn.execute(text(
            "SELECT last_successful_sync, last_failed_sync, last_error_message, total_downloaded_events"
            " FROM download_sync WHERE enterprise_id = '0327'")).one()
        runs = conn.execute(text("SELECT status, error_kind FROM sync_runs")).all()
    assert sync[0] is None and sync[1] is not None
    assert sync[2] and str(path.name) in sync[2]
    assert sync[3] == 0
    assert [tuple(r) for r in runs] == [("failed", kind)]


def test_success_after_failure_is_recorded_truthfully(enterprises: Engine, tmp_path: Path, settings: Settings):
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    assert not import_day_file(enterprises, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY)).ok
    day_file(tmp_path, one_call("10.1"), tables=("APIlogs",))
    run(enterprises, path, Flow.HISTORY, settings)
    with enterprises.connect() as conn:
        sync = conn.execute(text(
            "SELECT last_successful_sync IS NOT NULL, last_failed_sync IS NOT NULL, last_error_message,"
            " total_downloaded_events FROM download_sync")).one()
        statuses = [r[0] for r in conn.execute(text("SELECT status FROM sync_runs ORDER BY id"))]
    assert tuple(sync) == (True, True, None, 5)
    assert statuses == ["failed", "success"]


def test_a_later_better_hangup_recomputes_the_flows_own_call(enterprises: Engine, tmp_path: Path, settings: Settings):
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, [hangup("11.1", status="Timeout", end="", call_status="0", extensions=("201",))], "AlternativeAPIlogs")
    run(enterprises, path, Flow.LIVE, settings)
    append(path, [hangup("11.1", status="Timeout", call_status="2", extensions=("202",))], "AlternativeAPIlogs")
    run(enterprises, path, Flow.LIVE, settings)
    with enterprises.connect() as conn:
        call = conn.execute(text("SELECT call_status, main_extension, duration FROM calls")).one()
        parts = conn.execute(text("SELECT extension, participant_status FROM call_participants")).all()
    assert tuple(call) == ("2", "202", 100)
    assert [tuple(p) for p in parts] == [("202", "answered")]


def test_rows_read_counts_source_rows_in_download_sync(enterprises: Engine, tmp_path: Path, settings: Settings):
    path = day_file(tmp_path, one_call("12.1") + [("2025-07-03 10:00:00", "dial", "12.1", "{", "ok")], tables=("APIlogs",))
    run(enterprises, path, Flow.HISTORY, settings)
    with enterprises.connect() as conn:
        sync = conn.execute(text("SELECT total_downloaded_events, failed_events_count FROM download_sync")).one()
        history = conn.execute(text("SELECT rows_read, new_calls, new_events, rejected, status FROM sync_runs")).one()
    assert tuple(sync) == (6, 1)
    assert tuple(history) == (6, 1, 5, 1, "success")
