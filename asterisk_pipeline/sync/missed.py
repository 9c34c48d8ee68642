"""Keeping ``missed_calls`` true (SPEC §4.7) inside the import's and the rebuild's transaction.

A write of conversations notes the number keys and start times of every call it inserted,
recomputed or removed (``MissedTouches``, before and after the write). At the end of the read,
``maintain`` re-decides every missed call those calls can change — the missed calls with those
keys that started up to one window before them — from the warehouse's own calls (one index
probe per key over ``(enterprise_id, phone_key, start_time)``), so the result is the same
whatever order the day files arrive in: a callback imported today resolves last week's missed
call, and a missed call of last year imported today with no follow-up is 'expired' at once.

Expiry without imports: rows store ``expires_at``; every reader treats an 'open' row past it as
'expired' (``warehouse.missed.EFFECTIVE_STATUS``), and each import of the enterprise and each
``missed_calls`` asset run store it so (``expire_open``, one partial-index probe). Why not only
rewrite: between two imports of a quiet enterprise, nothing would run to flip the rows.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..followup import FollowupCall, MissedCall, follow_up
from ..missed_report import MissedDay, by_day, local_days
from ..warehouse import missed as store
from ..warehouse.staging import PROBE_MAX_KEYS, StagedKeys, Stager
from ..warehouse.utc import as_utc

_JUST_AFTER = timedelta(microseconds=1)
_START, _KEY = 4, 23  # positions of start_time and phone_key in an importer call row
SPILL_AT = PROBE_MAX_KEYS  # touched keys held in memory before ``MissedTouches.spill``


@dataclass
class MissedTouches:
    """The number keys (and whether keyless calls) and the span of start times of the calls one
    read wrote, changed or removed: what ``maintain`` re-decides.

    A read of a day touches about one key per call (200,000 keys held ~25 MB to the end of the
    read, issue 21): past ``PROBE_MAX_KEYS`` — where ``maintain`` would stage them anyway —
    ``spill`` moves them after each write to the ``stage_touched`` staging table of the read's
    transaction, repeats and all, and ``maintain`` takes them from there, distinct."""

    keys: set[str] = field(default_factory=set)
    keyless: bool = False
    low: datetime | None = None
    high: datetime | None = None
    spilled: bool = False  # some keys are in stage_touched

    def add(self, key: str | None, start: datetime | None) -> None:
        if start is None:
            return  # no place in time: neither a missed call nor a follow-up
        if key is None:
            self.keyless = True
        else:
            self.keys.add(key)
        if self.low is None or start < self.low:
            self.low = start
        if self.high is None or start > self.high:
            self.high = start

    def add_call_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows as the importer writes them (``_call_row``: aware starts on PostgreSQL,
        naive-UTC text on SQLite)."""
        for row in rows:
            self.add(row[_KEY], as_utc(row[_START]))

    def add_stored(self, stager: Stager, call_ids: Sequence[int]) -> None:
        """The keys and starts these calls have now, before a write changes or removes them."""
        for key, start in store.keys_and_times(stager, call_ids):
            self.add(key, start)

    def spill(self, stager: Stager) -> None:
        """Past ``SPILL_AT`` keys (or once spilled), the keys held go to ``stage_touched``: a
        live sync's few keys never reach it, and stay an array parameter."""
        if self.keys and (self.spilled or len(self.keys) > SPILL_AT):
            stager.write("stage_touched", [(k,) for k in self.keys])
            self.keys.clear()
            self.spilled = True

    def staged(self, stager: Stager) -> Sequence[str] | StagedKeys:
        """Every key touched, distinct: the set held, or, once spilled, ``stage_keys``."""
        if not self.spilled:
            return sorted(self.keys)
        self.spill(stager)
        return stager.stage_distinct("stage_touched")


@dataclass(frozen=True)
class FollowupClock:
    """The window of a follow-up and the central clock that says whether it has passed."""

    window: timedelta
    now: datetime


def maintain(stager: Stager, enterprise: str, touches: MissedTouches, clock: FollowupClock) -> int:
    """Re-decide the missed calls the touched calls can change; returns the rows written."""
    store.expire_open(stager.conn, clock.now, enterprise)
    if touches.low is None or touches.high is None:
        return 0
    decided = store.Span(touches.low - clock.window, touches.high + _JUST_AFTER)
    read = store.Span(decided.low, decided.high + clock.window)
    keys = touches.staged(stager)
    # The old rows of these keys (and keyless calls) in the span go first; the decided rows then
    # go in batches as the stream of calls yields them (a day's rows at once held ~25 MB more),
    # each batch replacing any row of its calls elsewhere: every row is one call's, so the end
    # is the same as one replace of all of them.
    store.replace_missed(stager, enterprise, (keys, touches.keyless, decided), [])
    batch: list[tuple[Any, ...]] = []
    written = 0

    def keep(rows: list[MissedCall], last: bool = False) -> None:
        nonlocal written
        batch.extend(_stored(stager, enterprise, r) for r in rows if decided.low <= r.missed_at < decided.high)
        if len(batch) >= PROBE_MAX_KEYS or (last and batch):  # call ids as an array, never staged
            store.replace_missed(stager, enterprise, ([], False, decided), batch)
            written += len(batch)
            batch.clear()

    calls = store.calls_of_keys(stager, enterprise, keys, read)  # streamed, a key's calls together
    for _key, group in groupby(calls, key=lambda c: c.phone_key):
        keep(follow_up((FollowupCall(*c) for c in group), clock.window, clock.now))
    if touches.keyless:
        keyless = store.keyless_missed(stager, enterprise, decided)
        keep(follow_up((FollowupCall(*c) for c in keyless), clock.window, clock.now, matchable=False))
    keep([], last=True)
    return written


def _stored(stager: Stager, enterprise: str, r: MissedCall) -> tuple[Any, ...]:
    t = stager.time
    return (
        r.call_id, enterprise, r.phone_number, r.phone_key, t(r.missed_at), t(r.expires_at), r.status,
        r.resolved_call_id, t(r.resolved_at), r.resolved_by, r.seconds_to_resolution, r.callback_attempts,
    )


def refill_enterprise(conn: Connection, enterprise: str, window: timedelta, now: datetime) -> int:
    """Every missed call of the enterprise decided afresh (migration 0008, the benchmark):
    its calls streamed by number key, one key's calls in memory at a time."""
    stager = Stager(conn)
    store.delete_missed_of(conn, enterprise)
    written = 0
    batch: list[tuple[Any, ...]] = []
    for key, group in groupby(store.stream_calls_by_key(conn, enterprise), key=lambda c: c.phone_key):
        found = follow_up((FollowupCall(*c) for c in group), window, now, matchable=key is not None)
        batch += [_stored(stager, enterprise, r) for r in found]
        if len(batch) >= 10_000:
            written += _flush(stager, enterprise, batch)
    written += _flush(stager, enterprise, batch)
    stager.drop()
    return written


def _flush(stager: Stager, enterprise: str, batch: list[tuple[Any, ...]]) -> int:
    n = len(batch)
    if batch:
        store.insert_missed(stager, batch)
        batch.clear()
    return n


def day_figures(conn: Connection, enterprise: str, day: date, zone: ZoneInfo, now: datetime) -> MissedDay | None:
    """The ``missed_calls`` asset's work for one (day, enterprise): store 'expired' on the
    enterprise's open rows past their window, then the day's figures (None: no missed call)."""
    store.expire_open(conn, now, enterprise)
    low, high = local_days(day, day, zone)
    rows = store.iter_missed(conn, store.MissedFilter(now, enterprise, None, low, high))
    found = by_day(rows, lambda _ent: zone)
    return found[0] if found else None


def still_open(conn: Connection, now: datetime, older_than: timedelta) -> list[tuple[str, int]]:
    """Per enterprise, missed calls still open (as of ``now``) that were missed over ``older_than`` ago."""
    return store.count_open_older_than(conn, now, now - older_than)
