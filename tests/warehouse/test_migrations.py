"""Alembic migrations build exactly schema.py, on both databases, and respect a platform-owned table."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import current_revision, downgrade, upgrade
from asterisk_pipeline.warehouse.schema import metadata


def _differences(engine: Engine) -> list:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    # SQLite cannot report CHECK constraints or server defaults the way they were declared.
    return [d for d in diffs if not (isinstance(d, tuple) and d[0] in ("add_ck", "remove_ck"))]


def test_migrated_schema_matches_the_tables(engine: Engine):
    assert current_revision(engine) == "0007"
    assert _differences(engine) == []


def test_upgrade_is_idempotent(engine: Engine):
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == "0007"


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
