"""Listen_AMI day files: their names, and reading their rows above a cursor.

The PBX listener commits after every row in rollback-journal mode, so a reader can meet a
locked file, a file with no tables yet, or no file at all. Each of those is a ``SourceError``
with a ``kind`` an operator can act on, never a bare traceback. Rows are read in keyset chunks
(``id > cursor LIMIT n``) so a million-row file never sits in memory and the writer is never
locked out for long.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from ..model import BEFORE_FIRST_ROW, ROW_ID_MAX, ROW_ID_MIN, SourceRow

# A read holds at most this much of source values per chunk (SPEC §4.1: memory in bytes).
DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024

FILE_PREFIX = "Listen_AMI_"
_FILE_NAME = re.compile(r"Listen_AMI_(\d{4}-\d{2}-\d{2})\.db\Z")
SOURCE_TABLES = frozenset({"APIlogs", "AlternativeAPIlogs"})


class SourceErrorKind(str, Enum):
    MISSING = "missing_file"
    NO_TABLE = "no_table"
    LOCKED = "locked"
    CORRUPT = "corrupt"
    UNREADABLE = "unreadable"


class SourceError(Exception):
    """A day file that cannot be read to the end; ``kind`` says why, the message what to do."""

    def __init__(self, kind: SourceErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


def file_name(day: date) -> str:
    return f"{FILE_PREFIX}{day.isoformat()}.db"


def date_from_name(name: str) -> date | None:
    """The PBX-local date a file is named by, or None for any other name."""
    match = _FILE_NAME.match(name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


@dataclass(frozen=True)
class DayFile:
    """A readable Listen_AMI file on local disk (a mirror, a mount or a fetched copy)."""

    path: Path
    busy_timeout_s: float = 10.0

    def _connect(self, text_as_bytes: bool = False) -> sqlite3.Connection:
        if not self.path.is_file():
            if self.path.exists():  # a directory, a FIFO, a socket: never opened
                raise SourceError(SourceErrorKind.UNREADABLE, f"{self.path} is not a regular file")
            raise SourceError(SourceErrorKind.MISSING, f"{self.path} does not exist")
        try:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.busy_timeout_s
            )
        except sqlite3.Error as exc:
            raise _classify(self.path, exc) from exc
        if text_as_bytes:
            conn.text_factory = _text_or_bytes
        return conn

    def read_rows(
        self, table: str, after_id: int = BEFORE_FIRST_ROW, chunk_rows: int = 20_000,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> Iterator[list[SourceRow]]:
        """Chunks of rows with ``id > after_id`` in id order, until the table's end.

        A chunk ends at ``chunk_rows`` rows or once it holds ``chunk_bytes`` of values, so a
        day of 10 MB bodies is read in the same memory as any other (SPEC §4.1); a single row
        larger than that is a chunk of its own. Every id must be an integer: a cursor cannot
        follow anything else, so such a file is ``unreadable``.
        """
        _check_table(table)
        columns = "id, DateTime, event, Uniqueid, request, status"
        above = f"SELECT {columns} FROM {table} WHERE id > ? ORDER BY id LIMIT ?"
        # Nothing read yet: every row, ids <= 0 included (BEFORE_FIRST_ROW cannot be bound),
        # and a NULL id (a table declared without INTEGER PRIMARY KEY) is seen, not skipped.
        from_first = f"SELECT {columns} FROM {table} WHERE id >= ? OR id IS NULL ORDER BY id LIMIT ?"
        with closing(self._connect()) as conn:
            self._require_table(conn, table)
            cursor = after_id
            while True:
                query, bound = (from_first, ROW_ID_MIN) if cursor < ROW_ID_MIN else (above, cursor)
                rows, complete = self._fetch(conn, query, bound, chunk_rows, chunk_bytes)
                if not rows:
                    return
                _check_ids(self.path, table, rows)
                yield list(map(SourceRow._make, rows))
                cursor = rows[-1][0]
                if complete:
                    return

    def anchor_rows(self, table: str, cursor_id: int) -> list[SourceRow]:
        """The table's first row and the row with id ``cursor_id``: what tells the file read
        before from another one recreated under the same name (ids starting again at 1)."""
        _check_table(table)
        query = (
            f"SELECT id, DateTime, event, Uniqueid, request, status FROM {table} "
            f"WHERE id = (SELECT min(id) FROM {table}) OR id = ? ORDER BY id LIMIT ?"
        )
        with closing(self._connect()) as conn:
            self._require_table(conn, table)
            rows, _ = self._fetch(conn, query, cursor_id, 2, DEFAULT_CHUNK_BYTES)
            _check_ids(self.path, table, rows)
            return list(map(SourceRow._make, rows))

    def _fetch(
        self, conn: sqlite3.Connection, query: str, cursor: int, limit: int, max_bytes: int,
    ) -> tuple[list[tuple[Any, ...]], bool]:
        """Up to ``limit`` rows or ``max_bytes`` of values, whichever comes first, and whether
        the query ran out of rows (the table's end) rather than out of room."""
        try:
            return _take(conn.execute(query, (cursor, limit)), limit, max_bytes)
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc).lower():
                raise _classify(self.path, exc) from exc
        except sqlite3.Error as exc:
            raise _classify(self.path, exc) from exc
        # Some value is not valid UTF-8: read this chunk as bytes, the normalizer decides.
        with closing(self._connect(text_as_bytes=True)) as raw:
            try:
                return _take(raw.execute(query, (cursor, limit)), limit, max_bytes)
            except sqlite3.Error as exc:
                raise _classify(self.path, exc) from exc

    def _require_table(self, conn: sqlite3.Connection, table: str) -> None:
        try:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise _classify(self.path, exc) from exc
        if row is None:
            other = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            if other is not None:
                raise SourceError(
                    SourceErrorKind.UNREADABLE,
                    f"{self.path}: {table} is a {other[0]}, not a table; it is not read",
                )
            raise SourceError(
                SourceErrorKind.NO_TABLE,
                f"{self.path} has no table {table} (a file created at day rollover has none yet)",
            )


def _text_or_bytes(value: bytes) -> str | bytes:
    """A TEXT value as text where it is valid UTF-8, else its bytes (the normalizer decides):
    one bad value in a chunk leaves every other value of it text."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def values_bytes(row: Sequence[Any]) -> int:
    """How much a row holds: the length of its text and blob values (what a bound in bytes counts)."""
    return sum(len(v) for v in row if isinstance(v, (str, bytes)))


def _row_bytes(row: tuple[Any, ...]) -> int:
    """``values_bytes`` of a source row, without a generator for the usual one (an integer id,
    five text values): the read runs it once per row."""
    if len(row) == 6 and type(row[0]) is int:
        try:
            return len(row[1]) + len(row[2]) + len(row[3]) + len(row[4]) + len(row[5])
        except TypeError:  # a NULL or a number among them: only text and blobs count
            pass
    return values_bytes(row)


def _take(result: sqlite3.Cursor, limit: int, max_bytes: int) -> tuple[list[tuple[Any, ...]], bool]:
    """Rows of a query as SQLite steps through them, until ``max_bytes`` of values are held."""
    rows: list[tuple[Any, ...]] = []
    size = 0
    for row in result:
        rows.append(row)
        size += _row_bytes(row)
        if size >= max_bytes:
            result.close()
            return rows, False
    return rows, len(rows) < limit


def _check_ids(path: Path, table: str, rows: list[tuple[Any, ...]]) -> None:
    for row in rows:
        if type(row[0]) is not int:
            shown = repr(row[0])[:40]
            raise SourceError(
                SourceErrorKind.UNREADABLE,
                f"{path}: {table}.id holds {shown}, not an integer; no cursor can follow this table",
            )


def wal_path(path: Path) -> Path:
    """The ``-wal`` beside a day file: in WAL mode, committed rows not yet checkpointed."""
    return path.with_name(f"{path.name}-wal")


def is_wal_mode(path: Path) -> bool:
    """Whether a SQLite file's header says WAL (read/write format versions 2)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and (header[18] == 2 or header[19] == 2)


def _check_table(table: str) -> None:
    # Table names go into SQL text, so only the fixed names are ever allowed.
    if table not in SOURCE_TABLES:
        raise ValueError(f"unknown source table {table!r}")


def _classify(path: Path, exc: sqlite3.Error) -> SourceError:
    text = str(exc)
    lowered = text.lower()
    if is_wal_mode(path) and ("unable to open" in lowered or "readonly" in lowered or "read-only" in lowered):
        # SQLite reads a WAL file's -wal through its -shm index, which it creates beside the
        # file: never fall back to reading the main file alone (a silent short read).
        return SourceError(
            SourceErrorKind.UNREADABLE,
            f"{path} is in WAL mode and could not be read with its -wal ({text}); the directory"
            " must be writable or hold the -shm",
        )
    if "locked" in lowered or "busy" in lowered:
        return SourceError(
            SourceErrorKind.LOCKED, f"{path} stayed locked by its writer ({text}); retry later"
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return SourceError(SourceErrorKind.CORRUPT, f"{path} is not a readable SQLite file ({text})")
    return SourceError(SourceErrorKind.UNREADABLE, f"{path} could not be read ({text})")


def in_file(after: int, offset: int) -> int:
    """A stored position of a later generation (file id + its ``offset`` > 0) as an id of the
    file itself."""
    return BEFORE_FIRST_ROW if after <= offset else after - offset


def shifted(chunks: Iterable[Sequence[SourceRow]], offset: int) -> Iterator[list[SourceRow]]:
    """The chunks' rows with ids in stored positions (file id + the generation's offset).

    A later generation's positions must lie above every earlier one and fit SQLite's and
    PostgreSQL's 64-bit integers: a recreated file with ids <= 0, or whose ids would pass
    2^63 - 1 once shifted, cannot be placed and fails as ``unreadable`` (never a silent skip).
    """
    for chunk in chunks:
        if chunk and (chunk[0].id < 1 or chunk[-1].id > ROW_ID_MAX - offset):
            raise SourceError(
                SourceErrorKind.UNREADABLE,
                f"a file recreated under the same name holds ids ({chunk[0].id}…{chunk[-1].id})"
                " that cannot be stored after the rows read from the file before it",
            )
        yield [row._replace(id=row.id + offset) for row in chunk]
