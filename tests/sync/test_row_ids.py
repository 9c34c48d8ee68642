"""Every row is read whatever its id (SPEC §2.1); ids no cursor can follow fail loudly (§4.1)."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.model import ROW_ID_MAX, Enterprise, Flow
from asterisk_pipeline.pbx.files import DayFile, SourceError
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file, sync_live
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.factories import COLUMNS, body, create_day_file, hangup, row

ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
DAY = date(2025, 7, 3)


def _write(path: Path, ids: list[int | str | None], table: str = "APIlogs", columns: str = COLUMNS) -> None:
    """One call per id: its hangup row, with exactly that id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        for i, row_id in enumerate(ids):
            at, event, uid, request, status = hangup(f"1751526000.{i + 1}")
            conn.execute(
                f"INSERT INTO {table} (id, DateTime, event, Uniqueid, request, status) VALUES (?, ?, ?, ?, ?, ?)",
                (row_id, at, event, uid, request, status),
            )
        conn.commit()


def _enterprise(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_ids_at_and_below_zero_are_read(engine: Engine, tmp_path: Path) -> None:
    _enterprise(engine)
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    ids = [-(2**63), -5, 0, 1, 7]
    _write(path, ids)
    settings = Settings(home=tmp_path / "home")
    outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert outcome.ok and outcome.rows_read == len(ids) and outcome.new_calls == len(ids), outcome
    again = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert again.ok and again.rows_read == 0  # the cursor followed them
    forced = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY), force=True)
    assert forced.ok and forced.rows_read == len(ids) and forced.new_events == 0
    assert _count(engine, "calls") == len(ids)


def test_live_fetch_reads_ids_below_zero(engine: Engine, tmp_path: Path) -> None:
    """The live path fetches before its transaction (local transport: the same code as SSH)."""
    _enterprise(engine)
    mirror = tmp_path / "mirror"
    _write(mirror / ENT.number / "Listen_AMI_2025-07-03.db", [-3, -2, -1], "AlternativeAPIlogs")
    settings = Settings(home=tmp_path / "home", transport="local", local_logs_dir=mirror, live_import_all=True)
    from datetime import UTC, datetime
    outcomes = sync_live(engine, Fleet.load(settings), ENT, now=datetime(2025, 7, 3, 12, tzinfo=UTC))
    today = [o for o in outcomes if o.file_date == "2025-07-03"]
    assert today and today[0].ok and today[0].rows_read == 3, outcomes
    assert _count(engine, "calls") == 3


def test_ids_that_are_not_integers_fail_as_unreadable(engine: Engine, tmp_path: Path) -> None:
    _enterprise(engine)
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    _write(path, [1, 2, "three"], columns=COLUMNS.replace("id INTEGER PRIMARY KEY", "id TEXT"))
    outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path / "home")), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert not outcome.ok and outcome.error_kind == "unreadable", outcome
    assert _count(engine, "call_events") == 0  # a file that cannot be read to the end imports nothing
    with engine.connect() as conn:
        kinds = list(conn.execute(text("SELECT status, error_kind FROM sync_runs")))
    assert kinds == [("failed", "unreadable")]


def test_recreated_file_after_ids_near_the_top_is_a_recorded_failure(engine: Engine, tmp_path: Path) -> None:
    """Its rows cannot be placed above the old file's in 64 bits: recorded, never escaping."""
    _enterprise(engine)
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    settings = Settings(home=tmp_path / "home")
    _write(path, [ROW_ID_MAX - 1, ROW_ID_MAX])
    assert import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY)).ok
    path.unlink()
    _write(path, [1, 2, 3])  # recreated: ids start again, other rows
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE APIlogs SET DateTime = '2025-07-03 11:00:00'")
        conn.commit()
    outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert not outcome.ok and outcome.error_kind == "unreadable", outcome
    assert "recreated" in (outcome.error or "")
    assert _count(engine, "call_events") == 2


def test_chunks_are_bounded_in_bytes(tmp_path: Path) -> None:
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    big = "x" * 300_000
    with closing(sqlite3.connect(path)) as conn:
        for i in range(10):
            at, event, uid, _, status = row("dial", f"1.{i}")
            conn.execute("INSERT INTO APIlogs (DateTime, event, Uniqueid, request, status) VALUES (?, ?, ?, ?, ?)",
                         (at, event, uid, body(UniqueId=f"1.{i}", Pad=big), status))
        conn.commit()
    chunks = list(DayFile(path).read_rows("APIlogs", chunk_rows=1000, chunk_bytes=700_000))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [r.id for c in chunks for r in c] == list(range(1, 11))


def test_a_view_in_place_of_the_table_is_read_or_refused_never_a_traceback(engine: Engine, tmp_path: Path) -> None:
    _enterprise(engine)
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    _write(path, [1, 2], table="real_rows")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE VIEW APIlogs AS SELECT * FROM real_rows")
        conn.commit()
    outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path / "home")), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert not outcome.ok and outcome.error_kind == "unreadable", outcome
    assert "view" in (outcome.error or "")


@pytest.mark.parametrize("value", ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "1900-01-01 00:00:00"])
def test_implausible_times_store_no_times_and_no_durations(engine: Engine, tmp_path: Path, value: str) -> None:
    _enterprise(engine)
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    with closing(sqlite3.connect(path)) as conn:
        for i, (start, end) in enumerate([(value, "2025-07-03 10:00:00"), ("2025-07-03 10:00:00", value)]):
            _, event, uid, request, status = hangup(f"1751526000.{i + 1}", start=start, end=end)
            conn.execute("INSERT INTO APIlogs (DateTime, event, Uniqueid, request, status) VALUES (?, ?, ?, ?, ?)",
                         (value, event, uid, request, status))
        conn.commit()
    outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path / "home")), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert outcome.ok and outcome.new_calls == 2 and outcome.rejected == 0, outcome
    with engine.connect() as conn:
        calls = list(conn.execute(text("SELECT start_time, end_time, duration FROM calls ORDER BY unique_id")))
        stamps = list(conn.execute(text("SELECT event_timestamp FROM call_events")).scalars())
    assert calls[0][0] is None and calls[1][1] is None and all(c[2] is None for c in calls), calls
    assert stamps == [None, None]


def test_a_directory_named_like_a_day_file_is_a_recorded_failure(engine: Engine, tmp_path: Path) -> None:
    _enterprise(engine)
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    path.mkdir()
    outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path / "home")), ENT, LocalDayFile(path, Flow.HISTORY, DAY))
    assert not outcome.ok and outcome.error_kind == "unreadable", outcome
    assert "not a regular file" in (outcome.error or "")
    with pytest.raises(SourceError):
        list(DayFile(path).read_rows("APIlogs"))


def test_over_ssh_ids_below_zero_are_read_and_a_null_id_is_unreadable(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """The PBX's own sqlite3 answers the live query: the same rules as a local file."""
    from tests.support.pbx import NOON, ssh_settings

    _enterprise(engine)
    server = sshd_factory(address="127.0.1.43")
    good = server.served_dir / "Listen_AMI_2025-07-03.db"
    _write(good, [-3, -2, 0, 4], "AlternativeAPIlogs")
    settings = ssh_settings(tmp_path, server, ssh_client_key, live_import_all=True)
    enterprise = Enterprise(ENT.number, ENT.name, ENT.host, ENT.secret, server.host)
    today = [o for o in sync_live(engine, Fleet.load(settings), enterprise, now=NOON) if o.file_date == "2025-07-03"]
    assert today and today[0].ok and today[0].rows_read == 4, today
    good.unlink()
    _write(good, [1, None, 3], "AlternativeAPIlogs", columns=COLUMNS.replace("id INTEGER PRIMARY KEY", "id"))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sync_cursors"))
    today = [o for o in sync_live(engine, Fleet.load(settings), enterprise, now=NOON) if o.file_date == "2025-07-03"]
    assert today and not today[0].ok and today[0].error_kind == "unreadable", today
