"""One read of one file and flow, top-down (SPEC §4.1–4.4), inside the caller's transaction:

1. **read and classify** every row above the cursor; events go chunk by chunk into
   ``call_events`` (first copy of an identity wins) carrying the id of the call their UniqueId is
   filed under, or a reserved one; every row a conversation reads is a *sighting*: the event's
   own row, or, when it is not (retries and collapsed APIlogs bridge rows, the same event read
   again elsewhere), a row of ``event_sightings``; rejects are staged;
2. **gather** the rows stored by earlier reads that belong with this read's UniqueIds: their
   own rows, rows sharing a bridge or a Local channel, rows close in time, and the other legs of
   calls they are filed under — so the result does not depend on how rows were split into reads;
3. **assemble** conversations (``conversations.assemble``, pure);
4. **write** the conversations this read touched: calls inserted, recomputed (this flow's) or
   NULL-filled (another flow's), calls superseded by a conversation with another primary
   removed, legs and participants replaced, events pointed at their call; rejects stored and
   the cursor advanced.

A kill at any point rolls everything back, so a re-run starts from the same cursor.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..classified import Classified, classify_chunk
from ..conversations import Conversation, ConvRow, assemble, conv_row, parse_channel
from ..followup import DEFAULT_WINDOW
from ..grouping import UnionFind
from ..model import (
    BEFORE_FIRST_ROW,
    LIVE_TABLE,
    Call,
    Enterprise,
    Flow,
    Leg,
    Participant,
    SourceRow,
    SyncCounts,
)
from ..normalize import parse_body
from ..ownership import Action, Filing, plan_ownership
from ..pbx.files import in_file, shifted
from ..warehouse import conversation_store as store
from ..warehouse.cursors import Cursor, read_cursor, save_cursor
from ..warehouse.db import lock_enterprise
from ..warehouse.events import CallIds, ChunkPipeline, EventWriter
from ..warehouse.staging import Stager
from .missed import FollowupClock, MissedTouches, maintain
from .sources import FetchedRows, RowSource, replaced_reason, row_digest

# Rows stored within this much PBX time of a read belong to its neighbourhood: a forwarding
# leg's candidates are found by time, never by a key.
NEIGHBOURHOOD = timedelta(minutes=30)
_GATHER_ROUNDS = 8  # bridge → Local half → bridge … hops followed into stored rows
# Open rows that make a read assemble and write its quiet conversations on the way, and how long
# a group whose calls all hung up must stay quiet first (legs' hangups trail the primary's by
# seconds). Measured on the reference day of 600,000 calls: a 30-minute wait kept ~70,000 rows
# open, so each flush assembled 2.7x the rows it wrote (512 MB, 6,100 rows/s). Every flush
# assembles all open rows, so they are the import's peak: 100,000 of them took ~350 MB of the
# 200,000-call reference day's 450 MB, 40,000 take ~250 MB at the same speed (issue 21). When a
# flush leaves many rows open (a busy day keeps more calls within QUIET), the next one waits for
# FLUSH_CARRIED times as many, so a flush never assembles more than twice what it can write.
FLUSH_ROWS = 40_000
FLUSH_CARRIED = 2
FLUSH_BYTES = 16 * 1024 * 1024  # or this much of hangup bodies held open (SPEC §4.1: bytes)
QUIET = timedelta(minutes=5)
_BRIDGE_KINDS = frozenset({"bridge", "bridge_leave"})


@dataclass(frozen=True)
class ImportRequest:
    """One import: which enterprise's file of which day and flow, read in which time zone."""

    enterprise: Enterprise
    flow: Flow
    file_date: date
    tz: ZoneInfo  # the PBX's zone (``Fleet.timezone``): its local times are read in it
    force: bool = False  # ignore the cursor and read every row again (history force_all)
    live_import_all: bool = False
    # For the run record only (``unit.run_import``): what fetching the rows cost, which Dagster
    # run asked, and when the sync began (a live cycle's "now"; None: when the import starts).
    bytes_transferred: int = 0
    dagster_run_id: str | None = None
    started: datetime | None = None
    # SPEC §4.7 follow-up window (ASTERISK_MISSED_WINDOW_DAYS); None: missed_calls is not
    # maintained (the benchmark's same-run baseline only).
    missed_window: timedelta | None = DEFAULT_WINDOW


@dataclass(frozen=True)
class ImportResult:
    counts: SyncCounts
    # Why the file was read again from its start (it is not the file the cursor read), or None.
    file_replaced: str | None = None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC rescans every live object as rows accumulate (a third of parse time);
    nothing built during an import forms cycles, so it waits until the import is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_rows(conn: Connection, request: ImportRequest, source: RowSource) -> ImportResult:
    """Import the rows of one file and flow above the cursor; the caller owns the transaction.

    A file that is not the one the cursor read is a new generation: read from its start, its
    ids stored above everything stored for the old one (``Cursor.id_offset``).
    """
    enterprise = request.enterprise.number
    table = request.flow.table
    lock_enterprise(conn, enterprise)
    cursor = read_cursor(conn, enterprise, request.file_date, table)
    replaced = None
    if cursor.read_any:
        replaced = replaced_reason(cursor, source.anchors(cursor.file_last_id))
        if replaced is not None:
            cursor = cursor.next_generation()
    generation_start = cursor.generation_start
    start_after = generation_start if request.force else cursor.last_source_id
    chunks = _classified(source, request, start_after, cursor.id_offset)
    store.forget_sightings_above(conn, enterprise, table, request.file_date, start_after)
    first_read = not store.has_events(conn, enterprise)
    stager = Stager(conn)
    call_ids = CallIds(conn, enterprise, nothing_filed=first_read and not store.has_legs(conn, enterprise))
    writer = EventWriter(stager, call_ids, enterprise, request.flow.data_source, table, request.file_date)

    target = WriteTarget(stager, request, call_ids, first_read, start_after=start_after)
    tally = _Tally()
    with _gc_paused():
        # A writer thread overlaps writing chunk k with parsing chunk k+1 (and with assembling
        # a flush). A live cycle's few fetched rows are one chunk already in memory
        # (``FetchedRows``), too few to flush on the way: nothing to overlap, so they are written
        # inline, without a thread started and handed to for each small sync.
        small = isinstance(source, FetchedRows) and len(source.fetched) < FLUSH_ROWS
        threaded = stager.dialect == "postgresql" and not small
        pipeline = ChunkPipeline(_call, threaded=threaded)
        try:
            reading = _read(chunks, target, _Writing(pipeline, writer, tally))
            pipeline.close()
        except BaseException:
            pipeline.abort()
            raise
        touched = set(call_ids.known)  # the UniqueIds whose conversations were not written yet
        new_calls, updated_calls = settle(target, reading.open.all_rows(), touched, reading.gathered)
        new_calls += tally.new_calls
        updated_calls += tally.updated_calls
        # Still paused: collections re-enabled here would scan every object the read holds
        # (a full collection cost ~2 us a row of the 20,000-call day) before it is freed.
        maintain_missed(target)
        rows_read, events_read, rejected = reading.rows_read, reading.events_read, reading.rejected
        writer.store_rejects()
        cursor_after = _advanced(cursor, reading, from_start=start_after == generation_start)
        if cursor_after != cursor or rows_read or replaced:
            save_cursor(conn, enterprise, request.file_date, table, cursor_after)
        stager.drop()
        new_events = writer.new_events
        del reading, target, writer, call_ids, stager  # freed before the collector runs again
    counts = SyncCounts(
        rows_read=rows_read,
        new_calls=new_calls,
        updated_calls=updated_calls,
        new_events=new_events,
        duplicates=events_read - new_events,
        rejected=rejected,
    )
    return ImportResult(counts, replaced)


def _classified(
    source: RowSource, request: ImportRequest, after: int, offset: int,
) -> Iterator[tuple[Sequence[SourceRow], Classified]]:
    """The source's chunks above ``after`` (a stored position), ids shifted by the generation's
    ``offset`` (``pbx.files.shifted``), each with its classification."""
    live_table = request.flow.table == LIVE_TABLE
    chunks = shifted(source.rows(in_file(after, offset)), offset) if offset else source.rows(after)
    for chunk in chunks:
        if chunk:
            yield chunk, classify_chunk(chunk, request.tz, request.file_date, live_table)


def _advanced(cursor: Cursor, reading: _Reading, *, from_start: bool) -> Cursor:
    """The cursor after a read: how far, and the digests that identify the file next time."""
    first_row = cursor.first_row
    if from_start and reading.first_row is not None:
        first_row = row_digest(reading.first_row)
    last_row = cursor.last_row
    if reading.last_row is not None and reading.last_id >= cursor.last_source_id:
        last_row = row_digest(reading.last_row)
    return Cursor(max(cursor.last_source_id, reading.last_id), cursor.id_offset, first_row, last_row)


def _call(fn: Callable[..., None], *args: Any) -> None:
    fn(*args)


@dataclass
class _Tally:
    """What the writer thread settled during the read (flushed conversations)."""

    new_calls: int = 0
    updated_calls: int = 0


@dataclass(frozen=True)
class WriteTarget:
    """Where one read (or rebuild) writes its conversations: the staging connection, the import
    it belongs to, the call ids it files under, whether the enterprise had no events before it
    (then every event carries the id its UniqueId was given here), and the file's rows it reads
    (those above ``start_after``: the rows of ``file_date`` there are never "stored before")."""

    stager: Stager
    request: ImportRequest
    call_ids: CallIds
    first_read: bool = False
    # the calls this read wrote, changed or removed, for maintain_missed
    missed: MissedTouches = field(default_factory=MissedTouches)
    start_after: int = BEFORE_FIRST_ROW

    @cached_property
    def others_stored(self) -> bool:
        """Whether earlier reads stored rows of this table (``has_other_sightings``), asked once:
        the read's own rows never count, and its enterprise lock keeps other reads out, so the
        answer holds for every gather of the read."""
        request = self.request
        return store.has_other_sightings(
            self.stager.conn, request.enterprise.number, request.flow.table, request.file_date, self.start_after,
        )


def maintain_missed(target: WriteTarget) -> None:
    """SPEC §4.7: the missed calls this read's calls can change, decided again (``sync.missed``)."""
    request = target.request
    if request.missed_window is None:
        return
    now = (request.started or datetime.now(UTC)).astimezone(UTC)
    maintain(target.stager, request.enterprise.number, target.missed, FollowupClock(request.missed_window, now))


@dataclass(frozen=True)
class _Writing:
    """The writer thread's side of a read: the pipeline that runs its work in order, the event
    writer, and the tally of conversations flushed on the way."""

    pipeline: ChunkPipeline
    events: EventWriter
    tally: _Tally


@dataclass
class Gathered:
    """What a gather has read: the UniqueIds whose stored rows it loaded, the bridge and Local
    keys it followed, and the UniqueIds its last round found but did not load. A later gather
    over rows that still hold everything it loaded need not read those again."""

    loaded: set[str] = field(default_factory=set)
    bridges: set[str] = field(default_factory=set)
    bases: set[str] = field(default_factory=set)
    unloaded: set[str] = field(default_factory=set)


@dataclass
class _Reading:
    open: OpenConversations
    rows_read: int = 0
    events_read: int = 0
    rejected: int = 0
    last_id: int = 0
    first_row: SourceRow | None = None
    last_row: SourceRow | None = None
    # The first chunk's gather, while the open rows still hold every row it loaded (a flush
    # that takes rows out ends that: the settle then gathers from scratch).
    gathered: Gathered | None = field(default_factory=Gathered)

    def count(self, chunk: Sequence[SourceRow], classified: Classified) -> None:
        """Where the read is after this (non-empty) chunk, and what it held."""
        if self.first_row is None:
            self.first_row = chunk[0]
        if chunk[-1].id > self.last_id:
            self.last_id, self.last_row = chunk[-1].id, chunk[-1]
        self.rows_read += len(chunk)
        self.events_read += len(classified.events)
        self.rejected += len(classified.rejects)


def _read(
    chunks: Iterable[tuple[Sequence[SourceRow], Classified]], target: WriteTarget, writing: _Writing,
) -> _Reading:
    """Classify every row above the cursor, hand chunks to the writer, keep the rows of
    conversations still open; quiet ones are assembled and written on the way (memory stays
    bounded by what is open, not by the size of the day)."""
    start_after = target.start_after
    reading = _Reading(OpenConversations(), last_id=start_after)
    open_rows = reading.open
    request = target.request
    first_chunk = True
    flush_at = FLUSH_ROWS
    for chunk, classified in chunks:
        fresh = classified.fresh
        if first_chunk and fresh and not target.first_read:
            # Before the writer thread touches the connection: stored rows around the start of
            # the file (the day before's last calls, earlier live cycles) join the open rows.
            for stored in gather(target, fresh, reading.gathered)[len(fresh):]:
                open_rows.add(stored)
        first_chunk = False
        for seen in fresh:
            open_rows.add(seen)
        reading.count(chunk, classified)
        writing.pipeline.submit(writing.events.write, classified.events, classified.rejects, classified.sightings)
        if open_rows.count >= flush_at or open_rows.bytes >= FLUSH_BYTES:
            ready = open_rows.take_quiet(request)
            if ready:
                reading.gathered = None
                writing.pipeline.submit(_write_flushed, target, ready, writing)
            flush_at = max(FLUSH_ROWS, FLUSH_CARRIED * open_rows.count)
    return reading


def _write_flushed(target: WriteTarget, conversations: list[Conversation], writing: _Writing) -> None:
    """Runs on the writer thread, after the events of these conversations were written."""
    new, updated = write_conversations(target, conversations, final=False)
    tally = writing.tally
    tally.new_calls += new
    tally.updated_calls += updated
    for conversation in conversations:  # filed now: a later row of theirs finds them in call_legs
        target.call_ids.forget(conversation.unique_ids)


class OpenConversations:
    """The rows of one read whose conversations may still grow.

    Rows are grouped over-inclusively (a shared bridge, a shared Local channel name): a group
    whose calls have all hung up and whose newest row is QUIET older than the newest row read is
    complete — its forwarding legs, found by time, are in memory with
    it — so it can be assembled and written, and its rows forgotten. Whatever links to a call
    still open waits.
    """

    def __init__(self) -> None:
        self.rows: dict[str, list[ConvRow]] = {}
        self.groups: UnionFind[str] = UnionFind()  # joined by a shared key, the larger group's root kept
        self.keys: dict[str, list[str]] = {}  # root → its bridge / Local keys
        self.owner: dict[str, str] = {}  # key → a uid of its group
        self.last: dict[str, datetime] = {}
        self.count = 0
        self.bytes = 0  # hangup bodies held (the only large values a ConvRow keeps)
        self.latest: datetime | None = None

    def add(self, row: ConvRow) -> None:
        uid = row.unique_id
        known = self.rows.get(uid)
        if known is None:
            known = self.rows[uid] = []
            self.groups.add(uid)
            self.keys[uid] = []
        known.append(row)
        self.count += 1
        if row.hangup_json is not None:
            self.bytes += len(row.hangup_json)
        at = row.at
        if at is not None and (self.latest is None or at > self.latest):
            self.latest = at
        groups = self.groups
        for key in self._keys_of(row):
            first = self.owner.get(key)
            if first is None:
                self.owner[key] = uid
                self.keys[groups.find(uid)].append(key)
            else:
                self._union(first, uid)
        root = groups.find(uid)
        stamp = at or self.latest
        if stamp is not None and (root not in self.last or self.last[root] < stamp):
            self.last[root] = stamp

    @staticmethod
    def _keys_of(row: ConvRow) -> list[str]:
        keys = []
        if row.bridge_id:
            keys.append("b:" + row.bridge_id)
        if row.channel is not None and row.channel.startswith("Local/"):
            base = _base(row)
            if base is not None:
                keys.append(f"l:{row.order[0]}:{base}")
        return keys

    def _union(self, a: str, b: str) -> None:
        joined = self.groups.union(a, b)
        if joined is None:
            return
        ra, rb = joined
        self.keys[ra].extend(self.keys.pop(rb))
        late = self.last.pop(rb, None)
        if late is not None and (ra not in self.last or self.last[ra] < late):
            self.last[ra] = late

    def _ended(self, root: str) -> bool:
        """Every call's own channel in the group has hung up, and every channel that entered a
        bridge has left it (its latest bridge row is a leave): a long talk without events (an
        hour between the bridge and its leave) keeps its conversation open however quiet. The
        leave matters because APIlogs ``bridge`` rows carry no BridgeUniqueid: until a channel's
        leave names its bridge, the group cannot know which call that channel sits in (a Local
        half parked in the caller's bridge).

        The latest row, not a count of entries against leaves: a channel moved into another
        bridge in a transfer enters twice and leaves once (the recorded 2-18 call: 151 enters
        the caller's bridge, then the consultation's, and leaves only that one), so counting
        kept every attended transfer open to the end of the file (the simulator's day of
        123,000 calls peaked at 687 MB)."""
        for uid in self.groups.members[root]:
            rows = self.rows[uid]
            own = any(r.kind in ("start", "dial") for r in rows) and not any(
                r.channel is not None and r.channel.startswith("Local/") for r in rows
            )
            if own and not any(r.kind == "hangup" for r in rows):
                return False
            latest: dict[str | None, ConvRow] = {}
            for r in rows:
                if r.kind in _BRIDGE_KINDS:
                    seen = latest.get(r.channel)
                    if seen is None or r.order > seen.order:
                        latest[r.channel] = r
            if any(r.kind == "bridge" for r in latest.values()):
                return False
        return True

    def all_rows(self) -> list[ConvRow]:
        return [row for rows in self.rows.values() for row in rows]

    def take_quiet(self, request: ImportRequest) -> list[Conversation]:
        """Assemble what is in memory; hand back (and forget) the conversations all of whose
        groups went quiet."""
        if self.latest is None:
            return []
        horizon = self.latest - QUIET
        quiet = {root for root, last in self.last.items() if last < horizon and self._ended(root)}
        if not quiet:
            return []
        conversations = assemble(self.all_rows(), request.enterprise, request.tz, request.flow.data_source)
        members = self.groups.members
        group_of = {uid: root for root in members for uid in members[root]}
        while True:  # a conversation spanning a group that is still open keeps both waiting
            ready = [c for c in conversations if all(group_of[u] in quiet for u in c.unique_ids)]
            covered = {u for c in ready for u in c.unique_ids}
            narrowed = {root for root in quiet if all(u in covered for u in members[root])}
            if narrowed == quiet:
                break
            quiet = narrowed
        for root in quiet:
            for uid in self.groups.drop(root):
                gone = self.rows.pop(uid)
                self.count -= len(gone)
                self.bytes -= sum(len(r.hangup_json) for r in gone if r.hangup_json is not None)
            for key in self.keys.pop(root):
                self.owner.pop(key, None)
            self.last.pop(root, None)
        return ready


def stored_conv_row(stored: store.StoredRow, live_table: bool) -> ConvRow | None:
    """A sighting read back, as the same ConvRow the import built from the source row."""
    event = _StoredEvent(stored.unique_id, stored.event_type, stored.event_timestamp,
                         stored.raw_json, stored.delivered, parse_body(stored.raw_json))
    return conv_row(event, (stored.file_date, stored.source_id), live_table)


class _StoredEvent(NamedTuple):
    """A sighting's event as :func:`conv_row` reads it (its stored body is the canonical one)."""

    unique_id: str
    event_type: str
    event_timestamp: datetime | None
    canonical_json: str
    delivered: bool
    body: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Gather → assemble → write


def gather(target: WriteTarget, batch: list[ConvRow], prior: Gathered | None = None) -> list[ConvRow]:
    """This read's rows plus every stored row that can change a conversation they touch.

    ``prior``: an earlier gather of this read whose rows ``batch`` still holds — its UniqueIds
    are not read again, nor its keys followed again (a live sync gathers its one chunk, then
    settles it: the second gather read the first one's rows twice). Filled with what this
    gather reads."""
    stager, request = target.stager, target.request
    enterprise, table = request.enterprise.number, request.flow.table
    if not target.others_stored:
        return batch
    done = prior if prior is not None else Gathered()
    live_table = table == LIVE_TABLE
    reader = store.SightingReader(stager, enterprise, table, request.file_date, target.start_after)
    found = list(batch)
    seeds = {r.unique_id for r in batch} | done.unloaded
    times = [r.at for r in batch if r.at is not None]
    if times:
        seeds |= reader.uids_between(min(times) - NEIGHBOURHOOD, max(times) + NEIGHBOURHOOD)
    present = {r.order for r in batch}
    loaded, bridges, bases = done.loaded, done.bridges, done.bases
    fresh_rows: list[ConvRow] = list(batch)
    frontier = seeds
    for _ in range(_GATHER_ROUNDS):
        new = frontier - loaded
        loaded |= new
        for stored in reader.rows_of(new):
            seen = stored_conv_row(stored, live_table)
            if seen is not None and seen.order not in present:
                present.add(seen.order)
                found.append(seen)
                fresh_rows.append(seen)
        new_bridges = {r.bridge_id for r in fresh_rows if r.bridge_id} - bridges
        new_bases = {b for r in fresh_rows for b in [_base(r)] if b} - bases
        if not (new or new_bridges or new_bases):
            frontier = set()
            break
        bridges |= new_bridges
        bases |= new_bases
        fresh_rows = []
        frontier = reader.linked_uids(new_bridges, new_bases, request.file_date, new)
    done.unloaded = frontier - loaded
    return found


def _base(row: ConvRow) -> str | None:
    channel = parse_channel(row.channel)
    return channel.local_base if channel is not None else None


def settle(
    target: WriteTarget, batch: list[ConvRow], touched: set[str], gathered: Gathered | None = None,
) -> tuple[int, int]:
    """Gather, assemble and write every conversation one of ``touched`` belongs to
    (``gathered``: what an earlier gather of the batch's rows read, see :func:`gather`).

    Returns (new calls, recomputed calls).
    """
    stager, request = target.stager, target.request
    rows = gather(target, batch, gathered)
    if not target.first_read:  # earlier reads exist: calls filed for these UniqueIds count too
        touched = touched | store.uids_of_same_calls(stager, request.enterprise.number, touched)
    conversations = assemble(rows, request.enterprise, request.tz, request.flow.data_source)
    del rows
    mine = [c for c in conversations if not touched.isdisjoint(c.unique_ids)]
    return write_conversations(target, mine)


@dataclass
class _Rows:
    """The rows one write of conversations changes, made from its ownership plan before any
    statement runs."""

    enterprise: str
    call_ids: CallIds
    time: Callable[[datetime | None], Any]
    new_rows: list[tuple[Any, ...]] = field(default_factory=list)
    again_rows: list[tuple[Any, ...]] = field(default_factory=list)  # recomputed, this flow's
    fill_rows: list[tuple[Any, ...]] = field(default_factory=list)  # NULLs filled, another flow's
    participant_rows: list[tuple[Any, ...]] = field(default_factory=list)
    recomputed: list[int] = field(default_factory=list)
    leg_rows: list[tuple[Any, ...]] = field(default_factory=list)
    leg_uids: set[str] = field(default_factory=set)
    links: dict[str, int | None] = field(default_factory=dict)

    def add(self, filing: Filing) -> None:
        conv, action, time = filing.conversation, filing.action, self.time
        target = filing.call_id
        if action is Action.INSERT:
            reserved: int | None = self.call_ids.reserved.pop(conv.primary, None)
            target = reserved or self.call_ids.reserve_one()
        call = conv.call
        if call is not None and target is not None:
            if action is Action.INSERT:
                self.new_rows.append(_call_row(target, call, time))
            elif action is Action.RECOMPUTE:
                self.again_rows.append(_call_row(target, call, time))
                self.recomputed.append(target)
            else:
                self.fill_rows.append(_call_row(target, call, time))
            if action is not Action.FILL:
                self.participant_rows.extend(_participant_row(target, p, time) for p in conv.participants)
        self.leg_uids.update(filing.replaced)
        self.leg_rows.extend(_leg_row(target, self.enterprise, leg, time) for leg in filing.legs)
        for uid in conv.unique_ids:
            self.links[uid] = target


def write_conversations(
    target: WriteTarget, conversations: list[Conversation], *, final: bool = True,
) -> tuple[int, int]:
    """Make the warehouse say what these conversations say (SPEC §4.2–4.4, §4.3 ownership).

    ``final``: the last write of the read, which also clears the ids reserved for UniqueIds that
    got no call (earlier writes leave them: their conversations may still be open).

    ``target.first_read``: the enterprise had no events before this read, so every event carries
    the id its UniqueId was given here and only the ones that differ need an update.
    """
    stager, request, call_ids = target.stager, target.request, target.call_ids
    enterprise = request.enterprise.number
    uids = {u for c in conversations for u in c.unique_ids}
    # A UniqueId given a reserved id was not filed then, and only a write of its own
    # conversation (which clears the reservation below) files it: no need to look it up.
    reserved = call_ids.reserved
    owners = store.leg_owners(stager, enterprise, [u for u in uids if u not in reserved])
    ownership = plan_ownership(
        conversations, owners, request.flow.data_source,
        live_rule=request.flow is Flow.LIVE and not request.live_import_all,
    )
    plan = _Rows(enterprise, call_ids, stager.time)
    for filing in ownership.filings:
        plan.add(filing)
    links = plan.links
    if request.missed_window is not None:  # keys and starts as they were, and as they will be
        again = plan.again_rows + plan.fill_rows
        target.missed.add_stored(stager, sorted(ownership.superseded | {row[0] for row in again}))
        target.missed.add_call_rows(plan.new_rows)
        target.missed.add_call_rows(again)
        target.missed.spill(stager)

    # Events written with an id reserved for a UniqueId that got no call of its own.
    for uid in uids:
        call_ids.reserved.pop(uid, None)
    if final:
        for uid in call_ids.reserved:
            links.setdefault(uid, None)
    if target.first_read:
        for uid, written in call_ids.known.items():
            if links.get(uid, -1) == written:
                del links[uid]  # already right: no update

    store.delete_calls(stager, ownership.removed)
    store.insert_calls(stager, plan.new_rows)
    store.update_calls(stager, plan.again_rows, plan.fill_rows, {"ent": enterprise})
    # Only UniqueIds filed before this write can have legs to replace.
    store.replace_legs(stager, enterprise, plan.leg_uids & owners.keys(), plan.leg_rows)
    call_ids.written.add_all(row[2] for row in plan.leg_rows)
    store.replace_participants(stager, plan.recomputed, plan.participant_rows)
    store.link_events(stager, enterprise, links)
    return len(plan.new_rows), len(plan.recomputed)


def _call_row(call_id: int | None, c: Call, time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    return (
        call_id, c.unique_id, c.enterprise_id, c.token, time(c.start_time), time(c.end_time),
        c.duration, c.phone_number, c.trunk, c.main_extension, c.extensions_count, c.call_type,
        c.call_status, c.is_answered, c.data_source, c.asterisk_host, c.raw_json,
        c.answered_by, time(c.answered_at), c.final_extension, c.transfer_chain, c.leg_count,
        c.shape, c.phone_key,
    )


def _participant_row(call_id: int, p: Participant, time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    return (
        call_id, p.extension, p.participant_status, p.ring_order, time(p.dial_start),
        time(p.answer_time), time(p.hangup_time), p.talk_order,
    )


def _leg_row(call_id: int | None, enterprise: str, leg: Leg, time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    return (
        call_id, enterprise, leg.unique_id, leg.role, leg.channel, leg.call_type, leg.call_status,
        leg.phone_number, leg.extensions, time(leg.start_time), time(leg.end_time), leg.raw_json,
        leg.link,
    )
