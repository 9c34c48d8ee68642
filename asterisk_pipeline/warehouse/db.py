"""Engines for the central database, PostgreSQL (psycopg 3) or the embedded SQLite file."""
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

T = TypeVar("T")


def normalize_url(url: str) -> str:
    """``postgresql://`` would pick psycopg2; the bulk path needs psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# scheme://user:PASSWORD@host…, parsed or not; up to the last '@', so a password holding a raw
# '@' is masked whole (masking too much beats leaking a part). Drivers also take ?password=.
_USERINFO_PASSWORD = re.compile(r"(?P<head>^[^:/?#]*://[^:/?#@]*:)(?P<password>.*)(?=@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#]*)", re.IGNORECASE)


def mask_url(url: str | URL) -> str:
    """``url`` with its password shown as ``***``, for every message that names a database (or
    any other) URL (SPEC §6). Never raises, whatever the string; the rest is left as given (no
    re-rendering), so the operator recognises the URL they configured."""
    text = url.render_as_string(hide_password=True) if isinstance(url, URL) else str(url)
    text = _USERINFO_PASSWORD.sub(r"\g<head>***", text, count=1)
    return _QUERY_PASSWORD.sub(r"\g<head>***", text)


def url_password(url: str) -> str | None:
    """The password a URL carries, parsable or not: to mask it in a driver's error text."""
    found = _USERINFO_PASSWORD.match(url) or _QUERY_PASSWORD.search(url)
    return found.group("password") or None if found else None


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _read_only_file_system(path: Path) -> bool:
    """Whether ``path`` (or its nearest existing parent) is on a read-only mount: asked of
    statvfs because root passes every permission check but cannot write there either."""
    probe = next((p for p in (path, *path.parents) if p.exists()), None)
    return probe is not None and bool(os.statvfs(probe).f_flag & os.ST_RDONLY)


def sqlite_read_only_reason(path: Path) -> str | None:
    """Why an import could not write the SQLite warehouse at ``path``, or None when it can.
    The directory matters too: SQLite writes its -wal and -shm files beside the database."""
    if _read_only_file_system(path.parent):
        return f"{path.parent} is on a read-only file system"
    if path.parent.exists() and not os.access(path.parent, os.W_OK):
        return f"directory {path.parent} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


def sqlite_in_wal_mode(path: Path) -> bool:
    """Whether the file is a SQLite database in WAL mode (header bytes 18-19 are 2), as every
    warehouse this package opened for writing is. Anything else — empty, another journal mode,
    not SQLite — a normal open would change (switching it to WAL writes the header)."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def make_engine(url: str, *, read_only: bool = False, sessions: int = 0) -> Engine:
    """An engine for the central database. ``read_only`` (SQLite only) opens the file without
    ever writing it — nor creating it, its directory or a WAL: what a read-only command needs
    on a read-only file system or file, where a normal open fails. ``sessions`` is how many
    syncs run at once (``ASTERISK_SSH_MAX_SESSIONS``; 0 for a process that runs none)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A live cycle syncs up to ``sessions`` enterprises at once, each with a connection, plus
        # one to record a failure. The pool keeps that many open between uses (they are opened
        # only when needed): a smaller pool closed the extra ones as they came back and opened
        # them again a moment later — a new server process, its caches and prepared statements
        # lost, several times a cycle. The overflow is headroom for the API's request threads.
        return create_engine(url, pool_pre_ping=True, pool_size=max(10, sessions + 2), max_overflow=40)
    in_memory = not parsed.database or parsed.database == ":memory:"
    read_only = read_only and not in_memory
    target: str | URL = url
    if read_only:
        target = _read_only_sqlite_url(Path(parsed.database))  # type: ignore[arg-type]
    elif parsed.database and not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # No pool for a file: opening one is cheap, and concurrent syncs then queue on SQLite's
    # own write lock (busy timeout below) instead of on a pool checkout timeout.
    engine = create_engine(
        target, connect_args={"timeout": 60}, **({} if in_memory else {"poolclass": NullPool})
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (the documented
        # pysqlite recipe); WAL lets the sidecar read while an import writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if not read_only:  # switching to WAL writes the file header
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


def _read_only_sqlite_url(path: Path) -> URL:
    """``mode=ro``; plus ``immutable=1`` when the directory cannot be written and no WAL holds
    pages: a WAL database opened read-only needs its -shm file, which SQLite cannot create
    there, while ``immutable`` reads the main file alone. A non-empty -wal means a writer
    left pages in it that ``immutable`` would not see, and ``mode=ro`` can read them."""
    query = {"mode": "ro", "uri": "true"}
    wal = path.with_name(path.name + "-wal")
    unwritable = _read_only_file_system(path.parent) or not os.access(path.parent, os.W_OK)
    if unwritable and not (wal.exists() and wal.stat().st_size > 0):
        query["immutable"] = "1"
    # SQLite's URI form: the path percent-encoded (a '?' or '#' in a directory name is no query).
    return URL.create("sqlite", database=f"file:{quote(str(path.resolve()))}", query=query)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that will write: committed on success, rolled back on any exception."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


def lock_enterprise(conn: Connection, enterprise: str) -> None:
    """One writer per enterprise at a time on PostgreSQL (SQLite's IMMEDIATE transaction
    already serializes writers): events are deduplicated before they are COPYed, and call ids
    reserved, on the premise that nobody else writes this enterprise's rows meanwhile. Held
    until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"asterisk-pipeline:import:{enterprise}"},
        )


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
