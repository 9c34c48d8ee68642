"""Real services for the suite: a fresh PostgreSQL database per test, SQLite files in tmp_path.

PostgreSQL is the local server (127.0.0.1:5432, trust auth). When it is unreachable the tests
that need it skip on a laptop, and fail when ASTERISK_TEST_REQUIRE_SERVICES=1 (CI).
Only fixtures live in conftest files; the helpers they and the tests share are in tests/support/
(the layout of tests/ is described in tests/README.md).
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import upgrade
from tests.support.pg import database_url, new_pg_database

pytest_plugins = ["tests.support.ssh_fixtures"]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE … TEMPLATE is fast)."""
    with new_pg_database("ap_tmpl") as name:
        engine = make_engine(database_url(name))
        upgrade(engine)
        engine.dispose()
        yield name


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    with new_pg_database("ap_test", template=pg_template) as name:
        yield database_url(name)


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
