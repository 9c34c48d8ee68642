"""Alembic migrations build exactly schema.py, on both databases, and respect a platform-owned table."""
from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import alembic_config, current_revision, downgrade, upgrade
from asterisk_pipeline.warehouse.schema import metadata


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
