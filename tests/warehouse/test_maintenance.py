"""Planner statistics upkeep: a grown table is analyzed after an import (PostgreSQL)."""
from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.maintenance import refresh_statistics, stale_tables
from asterisk_pipeline.warehouse.registry import upsert_enterprise

DAY = date(2025, 7, 3)


def _last_analyze(url: str, table: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
            ).scalar_one()
    finally:
        engine.dispose()


def test_an_import_that_grows_the_tables_refreshes_their_statistics(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    enterprise = Enterprise("0327", "VOS", "vos.lan", "s", "10.0.0.1", token_for("0327"))
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, enterprise)
    path = tmp_path / f"Listen_AMI_{DAY}.db"
    write_day_file(path, token=token_for("0327"), day=DAY, calls=400, seed=3)
    assert _last_analyze(pg_url, "call_events") is None
    outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path)), enterprise, LocalDayFile(path, Flow.HISTORY, DAY))
    assert outcome.ok and outcome.new_events > 2_000
    # Table counters reach pg_stat with up to ~1 s delay: the import itself may not see them yet.
    deadline = time.monotonic() + 10
    while _last_analyze(pg_url, "call_events") is None and time.monotonic() < deadline:
        refresh_statistics(engine, min_interval_s=0)
        time.sleep(0.2)
    assert _last_analyze(pg_url, "call_events") is not None
    assert "call_events" not in stale_tables(engine)
    engine.dispose()


def test_sqlite_needs_no_statistics(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    assert stale_tables(engine) == [] and refresh_statistics(engine) == []
    engine.dispose()
