"""Engines for the central database, PostgreSQL (psycopg 3) or the embedded SQLite file."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

T = TypeVar("T")


def normalize_url(url: str) -> str:
    """``postgresql://`` would pick psycopg2; the bulk path needs psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A live cycle syncs up to ASTERISK_SSH_MAX_SESSIONS enterprises at once, each with a
        # connection, plus one to record a failure: the default pool (5 + 10) is too small.
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
    in_memory = not parsed.database or parsed.database == ":memory:"
    if parsed.database and not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # No pool for a file: opening one is cheap, and concurrent syncs then queue on SQLite's
    # own write lock (busy timeout below) instead of on a pool checkout timeout.
    engine = create_engine(
        url, connect_args={"timeout": 60}, **({} if in_memory else {"poolclass": NullPool})
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (the documented
        # pysqlite recipe); WAL lets the sidecar read while an import writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock up front: a deferred transaction that read first and writes
        # later fails at once (SQLITE_BUSY_SNAPSHOT) when another writer committed meanwhile.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that will write: committed on success, rolled back on any exception."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


def retry_database(fn: Callable[[], T], *, engine: Engine, seconds: float) -> T:
    """``fn()``, tried again while the database does not answer, for up to ``seconds`` (backoff
    0.5 s, doubling to 8 s): a restart takes seconds. An error while the database answers (a
    missing table, a constraint) is tried once more at most, then raised."""
    delay, deadline, retried = 0.5, time.monotonic() + seconds, False
    while True:
        try:
            return fn()
        except SQLAlchemyError:
            if time.monotonic() + delay > deadline:
                raise
            if _answers(engine):
                if retried:
                    raise
                retried = True  # the error may be the restart that has just ended
            else:
                time.sleep(delay)
                delay = min(2 * delay, 8.0)


def _answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except SQLAlchemyError:
        return False
