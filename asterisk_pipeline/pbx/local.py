"""A PBX log directory on local disk: an rsync mirror, a mount, or the demo's simulated fleet.

Every day file is resolved (symlinks followed) and must lie inside the directory. A link in the
mirror that points elsewhere is refused with kind ``config``: the mirror is the only place the
pipeline was told to read, and following a link out of it would let whoever can plant one pick
any file the pipeline's user can read. Links that stay inside the directory are fine.

A WAL-mode file is read in place with its ``-wal`` (SQLite's read-only open uses the ``-wal``
through a ``-shm`` index it creates beside the file); where that cannot be done the read fails
with kind ``unreadable``, never a short read of the main file alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from ..model import ROW_ID_MIN, SourceRow
from .files import DEFAULT_CHUNK_BYTES, DayFile, SourceError, SourceErrorKind, file_name
from .transport import (
    LocalCopy,
    PbxClock,
    RemoteFile,
    TransportError,
    TransportErrorKind,
    in_range,
    inside,
)


class LocalTransport:
    def __init__(self, directory: Path, busy_timeout_s: float = 10.0) -> None:
        self.directory = directory
        self.label = str(directory)
        self.busy_timeout_s = busy_timeout_s
        self.bytes_transferred = 0

    def _path(self, day: date) -> Path:
        """The day file's path inside the directory (a link leading out of it is refused)."""
        return inside(self.directory, self.directory / file_name(day), "day file")

    def list_day_files(self, start: date, end: date) -> list[RemoteFile]:
        if not self.directory.is_dir():
            raise TransportError(TransportErrorKind.MISSING_FILE, f"{self.directory} is not a directory")
        entries = []
        for path in self.directory.iterdir():
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((path.name, stat.st_size, int(stat.st_mtime)))
        return in_range(entries, start, end)

    def stat_day_file(self, day: date) -> RemoteFile | None:
        path = self._path(day)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return RemoteFile(file_name(day), day, stat.st_size, int(stat.st_mtime))

    def fetch_rows(
        self, day: date, table: str, after_id: int, limit: int, max_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> list[SourceRow]:
        day_file = DayFile(self._path(day), self.busy_timeout_s)
        try:
            anchors = day_file.anchor_rows(table, after_id) if after_id >= ROW_ID_MIN else []
            for chunk in day_file.read_rows(table, after_id, limit, max_bytes):
                return [*anchors, *chunk]
        except SourceError as exc:
            raise _as_transport_error(exc) from exc
        return anchors

    def local_copy(self, day: date, cache_dir: Path) -> LocalCopy:
        # Reading in place is consistent: SQLite's own locking protects the reader.
        path = self._path(day)
        if not path.is_file():
            raise TransportError(TransportErrorKind.MISSING_FILE, f"{path} does not exist")
        return LocalCopy(path, 0)

    def pbx_clock(self, days: Sequence[date] = ()) -> PbxClock:
        # A mirror or mount has no clock of its own: the central clock rules. Its files are
        # looked at by the read itself (a local stat costs nothing worth saving).
        return PbxClock(None)

    def close(self) -> None:
        return None


def _as_transport_error(exc: SourceError) -> TransportError:
    kinds = {
        SourceErrorKind.MISSING: TransportErrorKind.MISSING_FILE,
        SourceErrorKind.NO_TABLE: TransportErrorKind.NO_TABLE,
        SourceErrorKind.LOCKED: TransportErrorKind.LOCKED,
        SourceErrorKind.CORRUPT: TransportErrorKind.CORRUPT,
        SourceErrorKind.UNREADABLE: TransportErrorKind.UNREADABLE,
    }
    return TransportError(kinds[exc.kind], exc.message)
