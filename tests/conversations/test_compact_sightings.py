"""Compact sightings (issue 21, migration 0010): an event's own row is read from ``call_events``,
``event_sightings`` holds only the other rows. A warehouse the version before wrote reads back
the same rows after the upgrade and rebuilds to the same tables as a fresh import; a forced
re-read records nothing twice (SPEC §4.3).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from asterisk_pipeline.model import BEFORE_FIRST_ROW, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.sync.rebuild import rebuild_calls
from asterisk_pipeline.warehouse import conversation_store as store
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import current_revision, upgrade
from asterisk_pipeline.warehouse.staging import Stager
from asterisk_pipeline.warehouse.utc import as_utc
from tests.support.versions import (
    ENT,
    conversation_tables,
    day_files,
    empty_database,
    export_version,
    import_fresh,
    import_with_version,
    recorded_mirror,
)

# The last version that stored every source row as a sighting (schema revision 0009).
BEFORE_0010 = "8b57d4e"
_FAR_AWAY = date(1900, 1, 1)  # a "current read" no stored row belongs to


def _row(table: str, fd: Any, sid: Any, uid: str, kind: str, at: Any, ok: Any, bridge: Any, base: Any) -> tuple:
    return (table, str(fd)[:10], int(sid), uid, kind, as_utc(at), bool(ok), bridge, base)


_COLUMNS = "{a}.source_table, {a}.file_date, {a}.source_id, {a}.unique_id, {a}.event_type," \
    " {a}.event_timestamp, {a}.delivered, {a}.bridge_id, {a}.local_base"
_IDENTITY = (" JOIN call_events e ON e.enterprise_id = s.enterprise_id AND e.unique_id = s.unique_id"
             " AND e.event_type = s.event_type AND e.body_hash = s.body_hash")


def _sightings_before(conn: Connection) -> list[tuple]:
    """Every sighting as revision 0009 stored it (one per source row a conversation reads)."""
    rows = conn.execute(text(f"SELECT {_COLUMNS.format(a='s')} FROM event_sightings s{_IDENTITY}"))
    return sorted(_row(*r) for r in rows)


def _sightings_after(conn: Connection) -> list[tuple]:
    """The same from 0010 on: each event's own row (a conversation reads it) and the others."""
    rows = conn.execute(text(
        f"SELECT {_COLUMNS.format(a='e')} FROM call_events e WHERE e.unique_id <> ''"
        " AND e.event_type IN ('start', 'dial', 'bridge', 'bridge_leave', 'new_callerid', 'hangup')"
        f" UNION ALL SELECT {_COLUMNS.format(a='s')} FROM event_sightings s{_IDENTITY}"
    ))
    return sorted(_row(*r) for r in rows)


def _read_back(engine: Engine, sightings: list[tuple]) -> dict[str, Any]:
    """What the readers give: every stored day's rows, and the UniqueIds every key, every
    UniqueId and the whole time range pull in, per table."""
    found: dict[str, Any] = {}
    with write_transaction(engine) as conn:
        stager = Stager(conn)
        for ent, day, table in store.stored_days(conn, None, None, None):
            found[f"day {ent} {day} {table}"] = store.SightingReader(stager, ent, table, day, 0).rows_of_day()
        for table in sorted({s[0] for s in sightings}):
            mine = [s for s in sightings if s[0] == table]
            reader = store.SightingReader(stager, ENT.number, table, _FAR_AWAY, BEFORE_FIRST_ROW)
            for column, index in (("bridge_id", 7), ("local_base", 8)):
                for key in sorted({s[index] for s in mine if s[index] is not None}):
                    found[f"{table} {column} {key}"] = reader.uids_by_key(column, [key])
            uids = sorted({s[3] for s in mine})
            found[f"{table} rows"] = reader.rows_of(uids)
            found[f"{table} explain"] = store.sightings_of(conn, ENT.number, table, uids)
            times = [s[5] for s in mine if s[5] is not None]
            found[f"{table} times"] = reader.uids_between(min(times), max(times))
        stager.drop()
    return found


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def mirror_settings(tmp_path: Path) -> Settings:

    return Settings(home=tmp_path / "home", transport="local", local_logs_dir=recorded_mirror(tmp_path))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_warehouse_upgraded_by_0010_reads_back_and_rebuilds_the_same(
    tmp_path: Path, mirror_settings: Settings, kind: str,
) -> None:
    files = day_files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    with empty_database(kind, tmp_path, "before0010") as old_db, empty_database(kind, tmp_path, "fresh10") as fresh_db:
        import_with_version(export_version(tmp_path, BEFORE_0010), old_db, files, tmp_path / "oldhome")
        old = make_engine(old_db)
        assert current_revision(old) == "0009"
        with old.connect() as conn:
            sightings = _sightings_before(conn)
        tables = conversation_tables(old)
        stored_before = _count(old, "event_sightings")

        upgrade(old)
        with old.connect() as conn:
            assert _sightings_after(conn) == sightings  # not a row more or less, keys included
        assert _count(old, "event_sightings") < stored_before  # own rows gone; retries, bridges, other tables kept
        assert _count(old, "unsighted_days") == 0
        assert conversation_tables(old) == tables
        read_back = _read_back(old, sightings)

        fresh = make_engine(fresh_db)
        import_fresh(fresh, files, mirror_settings)
        with fresh.connect() as conn:
            assert _sightings_after(conn) == sightings
        assert _read_back(fresh, sightings) == read_back
        assert _count(fresh, "event_sightings") == _count(old, "event_sightings")

        reports = rebuild_calls(old, Fleet.load(mirror_settings))
        assert {r.source for r in reports} == {"warehouse"}
        assert conversation_tables(old) == tables == conversation_tables(fresh)
        old.dispose()
        fresh.dispose()


def test_a_forced_reread_records_nothing_twice(engine: Engine, mirror_settings: Settings) -> None:
    files = day_files(mirror_settings.local_logs_dir)  # type: ignore[arg-type]
    import_fresh(engine, files, mirror_settings)
    with engine.connect() as conn:
        sightings = _sightings_after(conn)
        stored = conn.execute(text(
            "SELECT source_table, file_date, source_id FROM event_sightings"
            " ORDER BY source_table, file_date, source_id"
        )).all()
    assert stored  # the mirror's retries and collapsed bridge rows
    tables, read_back = conversation_tables(engine), _read_back(engine, sightings)
    per_day: dict[str, int] = defaultdict(int)
    for path in files:
        day = date.fromisoformat(path.stem.removeprefix("Listen_AMI_"))
        for flow in (Flow.HISTORY, Flow.LIVE):
            outcome = import_day_file(engine, Fleet.load(mirror_settings), ENT, LocalDayFile(path, flow, day),
                                      force=True)
            assert outcome.ok and outcome.new_events == 0, outcome
            per_day[flow.table] += outcome.rows_read
    assert all(per_day.values())
    with engine.connect() as conn:
        assert _sightings_after(conn) == sightings
        assert conn.execute(text(
            "SELECT source_table, file_date, source_id FROM event_sightings"
            " ORDER BY source_table, file_date, source_id"
        )).all() == stored
    assert _read_back(engine, sightings) == read_back
    assert conversation_tables(engine) == tables
