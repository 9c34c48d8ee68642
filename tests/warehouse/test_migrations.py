"""Alembic migrations build exactly schema.py, on both databases, and respect a platform-owned table."""
from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import alembic_config, current_revision, downgrade, upgrade
from asterisk_pipeline.warehouse.schema import metadata
from tests.support.pg import database_url, new_pg_database


def _head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def _differences(engine: Engine) -> list:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    # SQLite cannot report CHECK constraints or server defaults the way they were declared.
    return [d for d in diffs if not (isinstance(d, tuple) and d[0] in ("add_ck", "remove_ck"))]


def test_migrated_schema_matches_the_tables(engine: Engine):
    assert current_revision(engine) == _head(engine)
    assert _differences(engine) == []


def test_upgrade_is_idempotent(engine: Engine):
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == _head(engine)


def test_existing_enterprises_table_is_kept_and_never_dropped(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'platform.db'}")
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE enterprises (id INTEGER PRIMARY KEY, number TEXT UNIQUE, name TEXT,"
            " host TEXT, secret TEXT, ip TEXT, is_enabled BOOLEAN, active BOOLEAN, name2 TEXT,"
            " platform_extra TEXT)"
        ))
        conn.execute(text("INSERT INTO enterprises (number, name, platform_extra) VALUES ('0327', 'VOS', 'kept')"))
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT platform_extra FROM enterprises")).scalar_one() == "kept"
    downgrade(engine, "base")
    tables = set(inspect(engine).get_table_names())
    assert "enterprises" in tables and "calls" not in tables
    engine.dispose()


def test_upgrade_keys_the_numbers_of_existing_calls(tmp_path):
    """0006 gives calls stored before it their SPEC §4.7 matching key, as the import would."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0005")
    numbers = ["+375 (29) 123-45-67", "80291234567", "1234", "anonymous", None]
    with engine.begin() as conn:
        for i, number in enumerate(numbers):
            conn.execute(
                text("INSERT INTO calls (unique_id, enterprise_id, data_source, phone_number, start_time)"
                     " VALUES (:u, '0327', 'downloaded', :n, :t)"),
                {"u": f"17000000{i}.1", "n": number, "t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
    upgrade(engine)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT phone_number, phone_key FROM calls ORDER BY unique_id")).fetchall()
    assert [tuple(k) for k in keys] == [
        ("+375 (29) 123-45-67", "291234567"), ("80291234567", "291234567"), ("1234", "1234"),
        ("anonymous", None), (None, None),
    ]
    engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrade_fills_missed_calls_of_existing_calls(tmp_path, dialect):
    """0008 decides the follow-up of every missed call stored before it (SPEC §4.7), with the
    same rule as the import: a callback resolves, a call of last year with none is expired."""
    with contextlib.ExitStack() as stack:
        if dialect == "sqlite":
            url = f"sqlite:///{tmp_path / 'old.db'}"
        else:
            url = database_url(stack.enter_context(new_pg_database("ap_mig")))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine, "0006")
        t0 = datetime(2025, 7, 3, 7, 0, tzinfo=UTC)
        calls = [  # uid, type, answered, number, key, minutes after t0, extension
            ("1.1", "0", False, "+375291112233", "291112233", 0, None),
            ("1.2", "1", False, "80291112233", "291112233", 10, "201"),
            ("1.3", "1", True, "375291112233", "291112233", 60, "305"),
            ("1.4", "0", False, "80447778899", "447778899", 5, None),
            ("1.5", "0", True, "80447778899", "447778899", 30000, "202"),  # after the window
        ]
        with engine.begin() as conn:
            for uid, kind, answered, number, key, minutes, ext in calls:
                conn.execute(text(
                    "INSERT INTO calls (unique_id, enterprise_id, data_source, call_type, is_answered,"
                    " phone_number, phone_key, start_time, answered_by, main_extension)"
                    " VALUES (:u, '0327', 'downloaded', :k, :a, :n, :key, :t, :x, :x)"),
                    {"u": uid, "k": kind, "a": answered, "n": number, "key": key,
                     "t": t0 + timedelta(minutes=minutes), "x": ext})
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT c.unique_id, m.status, r.unique_id, m.resolved_by, m.seconds_to_resolution,"
                " m.callback_attempts FROM missed_calls m JOIN calls c ON c.id = m.call_id"
                " LEFT JOIN calls r ON r.id = m.resolved_call_id ORDER BY c.unique_id")).fetchall()
        assert [tuple(r) for r in rows] == [
            ("1.1", "called_back", "1.3", "305", 3600, 1),
            ("1.4", "expired", None, None, None, 0),
        ]
