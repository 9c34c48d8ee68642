"""Real services for the suite: a fresh PostgreSQL database per test, SQLite files in tmp_path.

PostgreSQL is the local server (127.0.0.1:5432, trust auth). When it is unreachable the tests
that need it skip on a laptop, and fail when ASTERISK_TEST_REQUIRE_SERVICES=1 (CI).
"""
from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text

from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import upgrade

pytest_plugins = ["tests.ssh_fixtures"]

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


def _admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@contextmanager
def new_pg_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """Create a uniquely named database (optionally from a template) and drop it afterwards.

    Skips on a laptop without PostgreSQL; fails when services are required (CI).
    """
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        admin.dispose()
        service_missing(f"PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__})")
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


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE … TEMPLATE is fast)."""
    with new_pg_database("ap_tmpl") as name:
        engine = make_engine(_db_url(name))
        upgrade(engine)
        engine.dispose()
        yield name


def _db_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    with new_pg_database("ap_test", template=pg_template) as name:
        yield _db_url(name)


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every warehouse test runs on both databases."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
