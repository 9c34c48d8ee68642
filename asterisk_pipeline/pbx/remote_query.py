"""The incremental query run by the PBX's own ``sqlite3`` CLI, and the parsing of its answer.

Rows may hold ``|``, newlines, quotes, NUL or invalid UTF-8, so nothing is printed raw: every
value travels as ``typeof(x)`` plus ``hex(x)``, one row per line, fields separated by ``|``.
The output alphabet is [0-9A-Za-z|\\n]; parsing cannot be confused by the data.

The command is built only from validated integers, the two fixed table names and a
``shlex.quote``-d path (SPEC §6) — never by pasting data into a string.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..model import BEFORE_FIRST_ROW, ROW_ID_MAX, ROW_ID_MIN, SourceRow, SqliteValue
from .files import SOURCE_TABLES

COLUMNS = ("DateTime", "event", "Uniqueid", "request", "status")
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./@:+-]+\Z")


class RemoteQueryError(ValueError):
    """The sqlite3 answer could not be understood (truncated or not ours)."""


class NonIntegerIds(RemoteQueryError):
    """The table's ``id`` column holds something other than integers: no cursor can follow it."""


def build_query(table: str, after_id: int, limit: int) -> str:
    """Rows with id > after_id (at most ``limit``) and, when something was read (after_id is
    not BEFORE_FIRST_ROW), the table's first row and the row at after_id (the anchors that tell
    whether the file is the one read before), all in one round trip."""
    if table not in SOURCE_TABLES:
        raise ValueError(f"unknown source table {table!r}")
    after_id, limit = int(after_id), int(limit)
    if not BEFORE_FIRST_ROW <= after_id <= ROW_ID_MAX or limit < 1:
        raise ValueError("after_id must be a 64-bit id (or BEFORE_FIRST_ROW) and limit >= 1")
    fields = " || '|' || ".join(f"typeof({c}) || '|' || hex({c})" for c in COLUMNS)
    line = f"id AS i, coalesce(id, 'NULL') || '|' || {fields} AS line FROM {table}"
    if after_id < ROW_ID_MIN:  # nothing read yet: every row, ids <= 0 and a NULL id included
        return (
            f"SELECT line FROM (SELECT {line} WHERE id >= {ROW_ID_MIN} OR id IS NULL"
            f" ORDER BY id LIMIT {limit});"
        )
    above = f"SELECT {line} WHERE id > {after_id} ORDER BY id LIMIT {limit}"
    anchors = (
        f"SELECT {line} WHERE id <= {after_id}"
        f" AND (id = {after_id} OR id = (SELECT min(id) FROM {table}))"
    )
    return f"SELECT line FROM ({anchors} UNION ALL SELECT i, line FROM ({above})) ORDER BY i;"


@dataclass(frozen=True)
class ChunkQuery:
    """One chunk of a table: the rows with id > ``after_id``, at most ``limit`` (``build_query``)."""

    table: str
    after_id: int
    limit: int

    def sql(self) -> str:
        return build_query(self.table, self.after_id, self.limit)


def validate_remote_path(path: PurePosixPath) -> str:
    """An absolute path of ordinary characters (it is quoted anyway; this refuses surprises)."""
    text = str(path)
    if not path.is_absolute() or not _SAFE_PATH.match(text) or ".." in path.parts:
        raise ValueError(f"refusing remote path {text!r}")
    return text


# Exit codes of the guard in front of the query: no sqlite3 CLI, no such file.
EXIT_NO_SQLITE = 127
EXIT_NO_FILE = 66


def build_command(sqlite3: str, path: PurePosixPath, chunk: ChunkQuery, busy_ms: int) -> str:
    """One round trip: ``command -v sqlite3 || exit 127; test -f PATH || exit 66; sqlite3
    -readonly -batch -noheader -cmd '.timeout N' PATH SQL``, every variable part quoted."""
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", sqlite3):
        raise ValueError(f"refusing sqlite3 binary name {sqlite3!r}")
    quoted_path = shlex.quote(validate_remote_path(path))
    binary = shlex.quote(sqlite3)
    parts = [
        sqlite3, "-readonly", "-batch", "-noheader",
        "-cmd", f".timeout {int(busy_ms)}",
        validate_remote_path(path),
        chunk.sql(),
    ]
    return (
        f"command -v {binary} >/dev/null 2>&1 || exit {EXIT_NO_SQLITE}; "
        f"test -f {quoted_path} || exit {EXIT_NO_FILE}; "
        + " ".join(shlex.quote(part) for part in parts)
    )


def _value(kind: str, hex_text: str) -> SqliteValue:
    if kind == "null":
        return None
    raw = bytes.fromhex(hex_text)
    if kind == "integer":
        return int(raw)
    if kind == "real":
        return float(raw)
    if kind == "text":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw  # the normalizer rejects it with "not valid UTF-8"
    if kind == "blob":
        return raw
    raise RemoteQueryError(f"unknown sqlite type {kind!r}")


def parse_rows(output: str) -> Iterator[SourceRow]:
    """Rows from the query's output; raises RemoteQueryError on anything malformed."""
    for number, line in enumerate(output.splitlines(), start=1):
        if not line:
            continue
        fields = line.split("|")
        if len(fields) != 1 + 2 * len(COLUMNS):
            raise RemoteQueryError(f"line {number}: {len(fields)} fields, expected 11")
        try:
            values = [_value(fields[i], fields[i + 1]) for i in range(1, len(fields), 2)]
            row_id = int(fields[0])
        except ValueError as exc:
            if not fields[0].lstrip("-").isdigit():
                raise NonIntegerIds(f"line {number}: the id column holds {fields[0][:40]!r}") from exc
            raise RemoteQueryError(f"line {number}: {exc}") from exc
        yield SourceRow(row_id, *values)
