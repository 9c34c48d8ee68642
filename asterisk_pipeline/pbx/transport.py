"""How the pipeline reaches one PBX's day files: the protocol, its errors and shared helpers.

Two implementations: ``ssh.SshTransport`` (paramiko: incremental sqlite3 query over an exec
channel, SFTP copies) and ``local.LocalTransport`` (a mirrored or mounted log directory).
A transport object lives for one sync of one enterprise and reuses one connection.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from ..model import SourceRow
from .files import DEFAULT_CHUNK_BYTES, date_from_name, file_name


class TransportErrorKind(str, Enum):
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    MISSING_FILE = "missing_file"
    NO_TABLE = "no_table"
    LOCKED = "locked"
    CORRUPT = "corrupt"
    UNREADABLE = "unreadable"  # a file whose tables the reader cannot use (e.g. non-integer ids)
    PROTOCOL = "protocol"
    DISK_FULL = "disk_full"  # no space left on the central server for a copy


# Worth another attempt after a pause; the others need an operator.
TRANSIENT = frozenset({
    TransportErrorKind.UNREACHABLE, TransportErrorKind.REFUSED, TransportErrorKind.TIMEOUT,
    TransportErrorKind.PROTOCOL, TransportErrorKind.LOCKED,
})


class TransportError(Exception):
    def __init__(self, kind: TransportErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


class NoRemoteSqlite(Exception):
    """The PBX has no sqlite3 CLI: the caller falls back to copying the file."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    day: date
    size: int
    mtime: int


@dataclass(frozen=True)
class LocalCopy:
    """A day file readable on local disk, and what it cost to get it there."""

    path: Path
    bytes_transferred: int
    from_cache: bool


class Transport(Protocol):
    label: str  # host (or directory) for messages; never a credential
    bytes_transferred: int

    def list_day_files(self, start: date, end: date) -> list[RemoteFile]: ...

    def stat_day_file(self, day: date) -> RemoteFile | None: ...

    def fetch_rows(
        self, day: date, table: str, after_id: int, limit: int, max_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> list[SourceRow]:
        """Rows of ``table`` with id > after_id (at most ``limit``, and about ``max_bytes`` of
        values: at least one row) in id order, preceded, when something was read (after_id is
        not BEFORE_FIRST_ROW), by the anchors (the first row and the row at after_id, both
        id <= after_id); NoRemoteSqlite if unsupported."""
        ...

    def local_copy(self, day: date, cache_dir: Path) -> LocalCopy:
        """A consistent, verified local copy of the day file (cached while unchanged)."""
        ...

    def pbx_clock(self) -> datetime | None:
        """The PBX's own clock (UTC) when it can tell, else None (SPEC §4.6: its date rules)."""
        ...

    def close(self) -> None: ...


def in_range(names: list[tuple[str, int, int]], start: date, end: date) -> list[RemoteFile]:
    """Day files among (name, size, mtime) entries whose date lies in [start, end]."""
    found = []
    for name, size, mtime in names:
        day = date_from_name(name)
        if day is not None and start <= day <= end:
            found.append(RemoteFile(name, day, int(size), int(mtime)))
    return sorted(found, key=lambda f: f.day)


def quick_check(path: Path) -> str | None:
    """None when SQLite's ``PRAGMA quick_check`` says ok, else what it said."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            answer = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    return None if answer and answer[0] == "ok" else str(answer)


class CopyCache:
    """Verified copies of remote day files, kept while the remote size and mtime are unchanged
    (past days are immutable, so a backfill re-run transfers nothing)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, day: date) -> Path:
        return self.root / file_name(day)

    def _meta(self, day: date) -> Path:
        return self.root / f"{file_name(day)}.meta.json"

    def fresh(self, remote: RemoteFile) -> Path | None:
        path, meta = self.path(remote.day), self._meta(remote.day)
        if not (path.is_file() and meta.is_file()):
            return None
        try:
            known = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        return path if known == {"size": remote.size, "mtime": remote.mtime} else None

    def store(self, remote: RemoteFile, copied: Path) -> Path:
        """Move a verified copy into place, then record what it was a copy of."""
        path = self.path(remote.day)
        self._meta(remote.day).unlink(missing_ok=True)
        copied.replace(path)
        self._meta(remote.day).write_text(json.dumps({"size": remote.size, "mtime": remote.mtime}))
        return path
