"""Where an import's rows come from, and whether the file is still the one the cursor read.

A day file recreated under the same name (the listener restarted, a restore, the day-rollover
fault of SPEC §2) starts its ids again at 1. A cursor that only remembers "highest id read" would
skip every row of the new file and call that success. So a source also answers with two anchor
rows of the file *as it is now*: its first row and the row at the cursor's id. When either is not
the row read before (or the row at the cursor is gone), the file is read again from its start;
de-duplication by body keeps that safe, and the outcome says so.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..model import SourceRow
from ..pbx.files import DEFAULT_CHUNK_BYTES, DayFile
from ..settings import Settings
from ..warehouse.cursors import Cursor


def row_digest(row: SourceRow) -> str:
    """What identifies a row apart from its id: when it was written, what and whose, the body.

    ``status`` is left out on purpose: it is the delivery outcome, not the row's identity.
    """
    digest = hashlib.blake2b(digest_size=16)
    for value in (row.date_time, row.event, row.unique_id, row.request):
        data = value if isinstance(value, bytes) else repr(value).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Anchors:
    """The file's first row and the row at the cursor's id, as the file is now."""

    first: SourceRow | None
    at_cursor: SourceRow | None
    known: bool = True  # False: the source cannot tell (the check is skipped, never guessed)


def anchors_from(rows: Iterable[SourceRow], cursor_id: int) -> Anchors:
    """Anchors among rows a source returned with id <= cursor_id (the first, and the one at it)."""
    below = sorted((r for r in rows if r.id <= cursor_id), key=lambda r: r.id)
    at = next((r for r in below if r.id == cursor_id), None)
    return Anchors(first=below[0] if below else None, at_cursor=at)


def replaced_reason(cursor: Cursor, anchors: Anchors) -> str | None:
    """Why the file is not the one the cursor read, or None when it is (or nothing was read)."""
    last = cursor.file_last_id
    if not cursor.read_any or not anchors.known:
        return None
    if anchors.at_cursor is None:
        return f"row {last}, read up to last time, is no longer in the file (its ids start again)"
    if cursor.last_row is not None and row_digest(anchors.at_cursor) != cursor.last_row:
        return f"row {last} is not the row read before (another file under the same name)"
    if cursor.first_row is not None and (
        anchors.first is None or row_digest(anchors.first) != cursor.first_row
    ):
        return "its first row is not the one read before (another file under the same name)"
    return None


class RowSource(Protocol):
    def rows(self, after: int) -> Iterable[Sequence[SourceRow]]:
        """Chunks of the rows with id > after, in id order."""
        ...

    def anchors(self, cursor_id: int) -> Anchors: ...


@dataclass(frozen=True)
class FileRows:
    """A day file on local disk (a mirror, a mount, or a verified copy)."""

    day_file: DayFile
    table: str
    chunk_rows: int
    chunk_bytes: int = DEFAULT_CHUNK_BYTES

    @classmethod
    def configured(cls, day_file: DayFile, table: str, settings: Settings) -> FileRows:
        """The file's rows read in chunks of the configured size."""
        return cls(day_file, table, settings.read_chunk_rows, settings.read_chunk_bytes)

    def rows(self, after: int) -> Iterable[Sequence[SourceRow]]:
        return self.day_file.read_rows(self.table, after, self.chunk_rows, self.chunk_bytes)

    def anchors(self, cursor_id: int) -> Anchors:
        return anchors_from(self.day_file.anchor_rows(self.table, cursor_id), cursor_id)


@dataclass(frozen=True)
class FetchedRows:
    """Rows fetched from the PBX before the transaction: those above ``after`` and its anchors."""

    fetched: Sequence[SourceRow]
    after: int
    fetched_anchors: Anchors
    # (cursor, anchors) the fetch itself met before it read the file again from its start: a
    # file it found replaced stays replaced for the import that finds that same cursor.
    seen: tuple[int, Anchors] | None = None

    def rows(self, after: int) -> Iterable[Sequence[SourceRow]]:
        # The cursor read inside the transaction wins over the one the fetch started from.
        return [[row for row in self.fetched if row.id > after]]

    def anchors(self, cursor_id: int) -> Anchors:
        """The anchors at the cursor found inside the transaction.

        Another sync (the CLI beside the schedule, a second worker) may have moved the cursor
        since this fetch. Moved forward within what was fetched, the row at it is here to
        compare; moved forward *past* it, that sync read rows this fetch never saw — the rows
        were read by someone else, never evidence of a replaced file (SPEC §3), so nothing is
        claimed and ``rows`` hands over nothing.
        """
        if cursor_id == self.after:
            return self.fetched_anchors
        if self.seen is not None and cursor_id == self.seen[0]:
            return self.seen[1]
        if cursor_id < self.after:  # moved back since the fetch: the rows to tell are not here
            return Anchors(None, None, known=False)
        last_fetched = self.fetched[-1].id if self.fetched else self.after
        if cursor_id > last_fetched:
            return Anchors(None, None, known=False)
        first = self.fetched_anchors.first if self.fetched_anchors.first is not None else self.fetched[0]
        return Anchors(first, next((r for r in self.fetched if r.id == cursor_id), None))
