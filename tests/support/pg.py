"""The local PostgreSQL server of the suite (127.0.0.1:5432, trust auth) and its databases.

Shared by the fixtures of tests/conftest.py and the tests that need a database of their own.
"""
from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

PG_ADMIN_URL = os.environ.get(
    "ASTERISK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("ASTERISK_TEST_REQUIRE_SERVICES") == "1"
_counter = itertools.count()


def service_missing(what: str) -> None:
    """Skip on a laptop without the service; fail loudly in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (ASTERISK_TEST_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} unavailable")


def admin_engine() -> Engine:
    """An AUTOCOMMIT engine on the server's maintenance database (CREATE/DROP DATABASE)."""
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def require_postgres() -> Engine:
    """The admin engine, once the server answers: skips on a laptop without PostgreSQL, fails
    when services are required (CI)."""
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        admin.dispose()
        service_missing(f"PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__})")
    return admin


@contextmanager
def new_pg_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """Create a uniquely named database (optionally from a template) and drop it afterwards.

    Skips on a laptop without PostgreSQL; fails when services are required (CI).
    """
    admin = require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}_{next(_counter)}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def fresh_warehouse_like(db_url: str, tmp_path: Path, pg_template: str) -> str:
    """A second empty warehouse of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        from asterisk_pipeline.warehouse.db import make_engine
        from asterisk_pipeline.warehouse.migrate import upgrade

        url = f"sqlite:///{tmp_path / 'second.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    name = f"ap_second_{tmp_path.name[-20:].replace('-', '_')}".lower()
    admin = admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    admin.dispose()
    return db_url.rsplit("/", 1)[0] + "/" + name
