"""How the pipeline reaches one PBX's day files: the protocol, its errors and shared helpers.

Two implementations: ``ssh.SshTransport`` (paramiko: incremental sqlite3 query over an exec
channel, SFTP copies) and ``local.LocalTransport`` (a mirrored or mounted log directory).
A transport object lives for one sync of one enterprise and reuses one connection.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from ..model import SourceRow
from .files import DEFAULT_CHUNK_BYTES, date_from_name, file_name, is_wal_mode, wal_path


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
    PROTOCOL = "protocol"
    DISK_FULL = "disk_full"  # no space left on the central server for a copy
    # the file cannot be read whole or its tables used (a WAL whose -wal cannot be had,
    # non-integer ids, a view in place of the table)
    UNREADABLE = "unreadable"
    CONFIG = "config"  # a derived path falls outside its root: nothing there is touched


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
    bytes_transferred: int  # 0 when read in place or served from the cache


@dataclass(frozen=True)
class PbxClock:
    """What a PBX tells before a live sync: its own clock (UTC; None when it cannot tell), and
    which of the day files asked about are not there at all (nothing at the path: the fetch
    would fail as ``missing_file``); empty when it was not asked or could not tell."""

    now: datetime | None
    absent: frozenset[date] = frozenset()


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

    def pbx_clock(self, days: Sequence[date] = ()) -> PbxClock:
        """The PBX's own clock (UTC) when it can tell, else None (SPEC §4.6: its date rules),
        and which of ``days``' files it says it does not have (in the same round trip)."""
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


def inside(root: Path, path: Path, what: str) -> Path:
    """``path`` resolved (symlinks followed), or a ``config`` TransportError when that lies
    outside ``root`` resolved: a value from a table or a planted link never picks the file."""
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise TransportError(
            TransportErrorKind.CONFIG,
            f"{what} {str(path)[:200]!r} resolves outside {str(root)[:200]!r}; refused",
        )
    return real


def settle_copy(path: Path) -> None:
    """Make a private copy self-contained: a WAL-mode copy (with its ``-wal`` next to it, if
    the original had one) is checkpointed and switched to a rollback journal, so that reading it
    read-only needs no ``-wal``/``-shm`` and sees every row the WAL held. The ``-shm`` is only an
    index SQLite rebuilds from the ``-wal``; it is never copied. A rollback-mode copy is left as is.
    Raises sqlite3.Error when SQLite cannot use the pair."""
    if not is_wal_mode(path) and not wal_path(path).exists():
        return
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
    if not mode or str(mode[0]).lower() != "delete" or wal_path(path).exists():
        raise sqlite3.OperationalError(f"could not fold the -wal into the copy (journal_mode {mode})")
    path.with_name(f"{path.name}-shm").unlink(missing_ok=True)


def quick_check(path: Path) -> str | None:
    """None when SQLite's ``PRAGMA quick_check`` says ok, else what it said."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            answer = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    return None if answer and answer[0] == "ok" else str(answer)


@dataclass(frozen=True)
class WalFile:
    """A day file's ``-wal`` as seen on the PBX: part of what the copy is a copy of."""

    size: int
    mtime: int


class CopyCache:
    """Verified copies of remote day files, kept while the remote file is unchanged: its size
    and mtime and those of its ``-wal`` (present or not), so that a copy taken without the rows
    a ``-wal`` held is never reused once it changes. Past days are immutable, so a backfill
    re-run transfers nothing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, day: date) -> Path:
        return inside(self.root, self.root / file_name(day), "cache file")

    def _meta(self, day: date) -> Path:
        return inside(self.root, self.root / f"{file_name(day)}.meta.json", "cache file")

    @staticmethod
    def _key(remote: RemoteFile, wal: WalFile | None) -> dict[str, object]:
        return {"size": remote.size, "mtime": remote.mtime,
                "wal": None if wal is None else [wal.size, wal.mtime]}

    def fresh(self, remote: RemoteFile, wal: WalFile | None = None) -> Path | None:
        path, meta = self.path(remote.day), self._meta(remote.day)
        if not (path.is_file() and meta.is_file()):
            return None
        try:
            known = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        return path if known == self._key(remote, wal) else None

    def store(self, remote: RemoteFile, copied: Path, wal: WalFile | None = None) -> Path:
        """Move a verified, self-contained copy into place, then record what it was a copy of."""
        path = self.path(remote.day)
        self._meta(remote.day).unlink(missing_ok=True)
        for suffix in ("-wal", "-shm", "-journal"):  # a stale companion would change what is read
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        copied.replace(path)
        self._meta(remote.day).write_text(json.dumps(self._key(remote, wal)))
        return path
