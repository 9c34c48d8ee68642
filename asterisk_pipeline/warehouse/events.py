"""Events into ``call_events`` chunk by chunk, already linked to their (future) calls.

Why chunk by chunk: moving a million staged events at the end costs as long as parsing them.
Written per chunk from a writer thread, the database inserts chunk *k* while Python parses
chunk *k+1* (on PostgreSQL; SQLite connections stay on one thread and write inline).

Why call ids are reserved up front: an event should carry its ``call_id`` when it is written,
but the call is only built once its hangup is seen. So the first time a UniqueId shows up, its
existing call is looked up or a call id is reserved (from the ``calls`` sequence on PostgreSQL;
above ``max(id)`` under SQLite's write lock). Reserved ids that end up without a call are
cleared by the read's last conversation write (``conversation_store.link_events`` points their
events at no call); no other import writes the enterprise meanwhile (``db.lock_enterprise``).

Why the read remembers which UniqueIds it wrote (``MaybeSeen``): asking the warehouse, chunk
after chunk, about the legs and identities of every UniqueId — mostly rows this same import had
just written — was part of the ~23 % of the writer's time and 18–23 % of PostgreSQL's CPU a
profile of the import found spent on its own rows (issue 21). When the enterprise had nothing stored before the read, a UniqueId new
to the read is looked up nowhere; only those the read already wrote (still open from an earlier
chunk, or written on the way and back with a late row) are. The check stays in the database,
not in a Python set of identities: the writer thread's Python takes the interpreter lock from
the parser, its database waits do not, and a million identities would cost ~70 MB.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from ..model import EventRow, Rejected, SightingRow
from .conversation_store import insert_sightings, record_sightings
from .sql import execute
from .staging import Stager


class MaybeSeen:
    """A set that never answers "no" for a key it was given and answers "maybe" for about one
    in a thousand it was not (two bits of ``hash`` among 2^``bits``; 2^24 bits at 600,000
    UniqueIds: 0.5 %): what one read wrote, in 2 MB however long the day, so that the warehouse
    is asked only about the maybes. Batch methods: one call per chunk, not per key."""

    def __init__(self, bits: int = 24) -> None:
        self._shift = bits
        self._mask = (1 << bits) - 1
        self._bits = bytearray(1 << (bits - 3))  # zero pages: RSS grows as bits are set

    def add_all(self, keys: Iterable[object]) -> None:
        bits, mask, shift = self._bits, self._mask, self._shift
        for key in keys:
            h = hash(key)
            i, j = h & mask, (h >> shift) & mask
            bits[i >> 3] |= 1 << (i & 7)
            bits[j >> 3] |= 1 << (j & 7)

    def maybe(self, keys: Iterable[object]) -> list[Any]:
        """The keys that may have been added (all that were, a few that were not)."""
        bits, mask, shift = self._bits, self._mask, self._shift
        found = []
        for key in keys:
            h = hash(key)
            i, j = h & mask, (h >> shift) & mask
            if bits[i >> 3] & (1 << (i & 7)) and bits[j >> 3] & (1 << (j & 7)):
                found.append(key)
        return found


@dataclass
class CallIds:
    """UniqueId → the call id its events carry: the call it is filed under, or a reserved id.

    ``nothing_filed``: the enterprise had no events and no legs before the read, so a UniqueId
    is stored or filed only if this read wrote it (``written``: the legs and the conversations
    it wrote): the others are not looked up.
    """

    conn: Connection
    enterprise: str
    known: dict[str, int | None] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    nothing_filed: bool = False
    written: MaybeSeen = field(default_factory=MaybeSeen)
    _next_sqlite_id: int | None = None

    def resolve(self, unique_ids: set[str]) -> set[str]:
        """Give every UniqueId not ``known`` its call id; returns those it looked up (all of
        them, unless ``nothing_filed``: then only the ones this read may have written)."""
        fresh = [uid for uid in unique_ids if uid and uid not in self.known]
        if not fresh:
            return set()
        maybe_filed = self.written.maybe(fresh) if self.nothing_filed else fresh
        found = self._existing(maybe_filed) if maybe_filed else {}
        missing = [uid for uid in fresh if uid not in found]
        self.known.update(found)
        for uid, call_id in zip(missing, self._reserve(len(missing)), strict=True):
            self.known[uid] = call_id
            self.reserved[uid] = call_id
        return set(maybe_filed)

    def forget(self, unique_ids: Iterable[str]) -> None:
        """These UniqueIds' conversations were written: a later row of theirs finds them in
        ``call_legs`` (looked up again, as ``written`` says)."""
        known = self.known
        for uid in unique_ids:
            known.pop(uid, None)
        self.written.add_all(unique_ids)

    def reserve_one(self) -> int:
        return self._reserve(1)[0]

    def _existing(self, unique_ids: list[str]) -> dict[str, int | None]:
        """Legs already filed (a forwarding leg without a call maps to None)."""
        sql = (
            "SELECT unique_id, call_id FROM call_legs WHERE enterprise_id = :ent"
            " AND unique_id = ANY(:uids)"
        )
        if self.conn.dialect.name == "postgresql":
            rows = self.conn.execute(text(sql), {"ent": self.enterprise, "uids": unique_ids})
            return {uid: (int(cid) if cid is not None else None) for uid, cid in rows}
        found: dict[str, int | None] = {}
        for start in range(0, len(unique_ids), 500):  # SQLite's bound-parameter limit
            batch = unique_ids[start : start + 500]
            marks = ", ".join("?" for _ in batch)
            rows = self.conn.exec_driver_sql(
                "SELECT unique_id, call_id FROM call_legs WHERE enterprise_id = ?"
                f" AND unique_id IN ({marks})",
                (self.enterprise, *batch),
            )
            found.update({uid: (int(cid) if cid is not None else None) for uid, cid in rows})
        return found

    def _reserve(self, count: int) -> list[int]:
        if not count:
            return []
        if self.conn.dialect.name == "postgresql":
            rows = self.conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('calls', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
            return [int(r[0]) for r in rows]
        if self._next_sqlite_id is None:  # the IMMEDIATE transaction keeps other writers out
            top = self.conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM calls").scalar()
            self._next_sqlite_id = int(top or 0) + 1
        first = self._next_sqlite_id
        self._next_sqlite_id += count
        return list(range(first, first + count))


_EVENT_COLUMNS = (
    "call_id, enterprise_id, unique_id, event_type, event_timestamp, data_source, raw_data,"
    " body_hash, source_table, source_id, file_date, delivered, status, bridge_id, local_base"
)
# An event's identity, and where its own row was read (source_table, file_date, source_id).
Identity = tuple[str, str, bytes]
Position = tuple[str, date, int]


@dataclass
class EventWriter:
    """Writes one chunk of events into ``call_events`` (first copy of an identity wins), the
    chunk's sightings that are not their event's own row into ``event_sightings``, and stages
    its rejects.

    PostgreSQL: duplicates inside the chunk are dropped here, identities already stored are
    looked up through the unique index (with where they were read), and the rest is COPYed
    straight into ``call_events`` (an import holds its enterprise's advisory lock, so nobody adds
    them in between); a sighting is copied when its position is not its event's.
    SQLite: one ``INSERT … ON CONFLICT DO NOTHING`` per event, in source order, then one
    conditional insert per sighting (``record_sightings``).
    """

    stager: Stager
    call_ids: CallIds
    enterprise: str
    data_source: str
    source_table: str
    file_date: date
    new_events: int = 0

    def write(
        self, events: list[EventRow], rejects: list[Rejected], sightings: list[SightingRow]
    ) -> None:
        stager = self.stager
        homes: dict[Identity, Position] | None = None
        if events:
            uids = {e[1] for e in events}
            known = self.call_ids.known
            first_seen = {uid for uid in uids if uid and uid not in known}
            looked_up = self.call_ids.resolve(uids)
            if stager.dialect == "postgresql":
                # nothing filed means nothing stored before the read (``CallIds.nothing_filed``):
                # no events of a UniqueId it never wrote
                unwritten = first_seen - looked_up if self.call_ids.nothing_filed else set()
                events, homes = self._not_stored_yet(events, unwritten)
            ent, ds, table, day = self.enterprise, self.data_source, self.source_table, stager.date(self.file_date)
            time = stager.time
            self.new_events += stager.insert(
                "call_events",
                _EVENT_COLUMNS,
                [
                    (known.get(uid), ent, uid, kind, time(at), ds, raw, digest, table, sid, day, ok, status,
                     bridge, base)
                    for sid, uid, kind, at, raw, digest, ok, status, bridge, base in events
                ],
            )
        stager.write(
            "stage_rejects",
            [(r.source_id, r.event_type, r.unique_id, r.raw_text, r.reason) for r in rejects],
        )
        if homes is None:
            record_sightings(stager, self.enterprise, self.source_table, self.file_date, sightings)
        else:  # every sighting's event is in this chunk, so its home is known
            here = (self.source_table, self.file_date)
            insert_sightings(stager, self.enterprise, self.source_table, self.file_date, [
                s for s in sightings if homes[(s[1], s[2], s[3])] != (*here, s[0])
            ])

    def store_rejects(self) -> None:
        """Move the rejects staged by ``write`` into ``rejected_events`` (a row rejected before
        keeps its first reason)."""
        if "stage_rejects" not in self.stager.created:  # nothing was rejected
            return
        execute(
            self.stager.conn,
            "INSERT INTO rejected_events (enterprise_id, file_date, source_table, source_id,"
            " data_source, event_type, unique_id, raw_text, reason)"
            " SELECT :ent, :fd, :tbl, source_id, :ds, event_type, unique_id, raw_text, reason"
            " FROM stage_rejects WHERE true"
            " ON CONFLICT (enterprise_id, file_date, source_table, source_id) DO NOTHING",
            {"ent": self.enterprise, "ds": self.data_source, "tbl": self.source_table, "fd": self.file_date},
        )

    def _not_stored_yet(
        self, events: list[EventRow], unwritten: set[str],
    ) -> tuple[list[EventRow], dict[Identity, Position]]:
        """The first copy of each identity in the chunk that ``call_events`` does not hold, and
        where each identity of the chunk (with a UniqueId) has its own row: where it is stored,
        else the position of that first copy.

        ``unwritten``: UniqueIds nothing can be stored for yet (the first read, which has not
        written them): not looked up. The others' stored identities are fetched per UniqueId
        (an index range scan each); events without a UniqueId (bridge_create/destroy) are
        probed one by one.
        """
        first: dict[Identity, EventRow] = {}
        for event in events:
            first.setdefault((event[1], event[2], event[5]), event)
        uids = list({key[0] for key in first if key[0]} - unwritten)
        blank = [key for key in first if not key[0]]
        homes: dict[Identity, Position] = {}
        if uids or blank:
            for key, home in self._stored(uids, blank):
                if first.pop(key, None) is not None and home is not None:
                    homes[key] = home
        here = (self.source_table, self.file_date)
        for key, event in first.items():
            homes[key] = (*here, event[0])
        return list(first.values()), homes

    def _stored(
        self, uids: list[str], blank: list[Identity],
    ) -> list[tuple[Identity, Position | None]]:
        """The stored identities of these UniqueIds with their positions, and which of ``blank``
        are stored (no position: no sighting has a blank UniqueId)."""
        conn = self.stager.conn
        with _index_probes_only(conn):
            stored = conn.execute(
                # LATERAL … OFFSET 0 pins the join order: one index probe per key, never a
                # scan of every event without UniqueId repeated per key.
                text(
                    "SELECT u.unique_id, e.event_type, e.body_hash, e.source_table, e.file_date, e.source_id"
                    " FROM unnest(CAST(:uids AS text[])) AS u(unique_id)"
                    " CROSS JOIN LATERAL (SELECT s.event_type, s.body_hash, s.source_table, s.file_date,"
                    " s.source_id FROM call_events s"
                    " WHERE s.enterprise_id = :ent AND s.unique_id = u.unique_id OFFSET 0) AS e"
                    " UNION ALL SELECT '', k.event_type, k.body_hash, NULL, NULL, NULL"
                    " FROM unnest(CAST(:kinds AS text[]), CAST(:hashes AS bytea[]))"
                    " AS k(event_type, body_hash) WHERE EXISTS (SELECT 1 FROM call_events s"
                    " WHERE s.enterprise_id = :ent AND s.unique_id = ''"
                    " AND s.event_type = k.event_type AND s.body_hash = k.body_hash OFFSET 0)"
                ),
                {
                    "ent": self.enterprise,
                    "uids": uids,
                    "kinds": [k[1] for k in blank],
                    "hashes": [k[2] for k in blank],
                },
            ).all()
        return [
            ((uid, kind, bytes(digest)), (table, day, int(sid)) if table is not None else None)
            for uid, kind, digest, table, day, sid in stored
        ]


_PROBE_SETTINGS = ("enable_hashjoin", "enable_mergejoin", "enable_bitmapscan", "enable_seqscan", "enable_material", "jit")


@contextmanager
def _index_probes_only(conn: Connection) -> Iterator[None]:
    """Plan the duplicate lookups as index probes, whatever the statistics say.

    ``call_events`` grows by a million rows inside one import, long before autovacuum
    analyzes it; on stale statistics the planner chose to scan every event of the enterprise
    per chunk (0.2 s each instead of 15 ms).
    """
    # One round trip each way: set_config(…, true) is SET LOCAL, and pg_settings.reset_val is
    # what SET LOCAL … TO DEFAULT would restore.
    conn.exec_driver_sql("SELECT " + ", ".join(f"set_config('{s}', 'off', true)" for s in _PROBE_SETTINGS))
    try:
        yield
    finally:
        conn.exec_driver_sql(
            "SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name IN ("
            + ", ".join(f"'{s}'" for s in _PROBE_SETTINGS) + ")"
        )


class ChunkPipeline:
    """Runs ``write`` for each submitted chunk, on a writer thread or inline.

    The queue holds one chunk, so memory stays bounded while the parser runs ahead.
    A writer failure is raised in the submitting thread at the next submit or at ``close``.
    """

    _DONE = object()

    def __init__(self, write: Callable[..., None], threaded: bool) -> None:
        self._write = write
        self._error: BaseException | None = None
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if self._error is None:
                try:
                    self._write(*item)
                except BaseException as exc:  # noqa: BLE001 - handed to the submitting thread
                    self._error = exc

    def submit(self, *args: Any) -> None:
        self._raise_if_failed()
        if self._queue is None:
            self._write(*args)
        else:
            self._queue.put(args)

    def close(self) -> None:
        """Wait for every submitted chunk; re-raise the writer's failure, if any."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(self._DONE)
            self._thread.join()
            self._queue = None
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop after the current chunk (the transaction is about to roll back)."""
        if self._queue is not None and self._thread is not None:
            self._error = self._error or RuntimeError("import aborted")
            self._queue.put(self._DONE)
            self._thread.join()
            self._queue = None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
