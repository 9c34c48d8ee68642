"""The values that flow through the core: source rows in, events/rejects/calls/participants out.

The per-row values are NamedTuples: immutable like frozen dataclasses, but built in C — a
frozen dataclass spends ~2 µs per instance in ``object.__setattr__``, which is 10 % of an
import at a million rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple

from .numbers import number_key

# What an untyped SQLite column can hand back.
SqliteValue = str | int | float | bytes | None

# SQLite INTEGER bounds: a row id is any of them (SPEC §2.1: a damaged or hand-made file may
# hold ids <= 0, and every row is read).
ROW_ID_MIN = -(2**63)
ROW_ID_MAX = 2**63 - 1
# "No row read yet": below every id a file can hold; a position, never stored.
BEFORE_FIRST_ROW = ROW_ID_MIN - 1

# SPEC §4.2: what happened in a conversation (``calls.shape``) and why a UniqueId is one of its
# legs (``call_legs.link``): fixed vocabularies the simulator's ground truth uses as well.
SHAPES = (
    "direct", "group", "transfer", "transfer_attended", "transfer_blind", "followme",
    "consultation_unanswered", "unanswered", "outgoing", "internal",
)
LINKS = ("primary", "bridge", "local", "forwarding")
# The event types a conversation is built from; every other event is stored but not read by
# the assembly (nor gathered back by the warehouse).
CONVERSATION_TYPES = frozenset({"start", "dial", "bridge", "bridge_leave", "new_callerid", "hangup"})

HISTORY_TABLE = "APIlogs"
LIVE_TABLE = "AlternativeAPIlogs"


class Flow(str, Enum):
    """The two import flows; the value is the ``data_source`` they write."""

    HISTORY = "history"
    LIVE = "live"

    @property
    def data_source(self) -> str:
        return "downloaded" if self is Flow.HISTORY else "live"

    @property
    def table(self) -> str:
        return HISTORY_TABLE if self is Flow.HISTORY else LIVE_TABLE


@dataclass(frozen=True, slots=True)
class Enterprise:
    """One row of ``enterprises`` as the pipeline needs it."""

    number: str
    name: str | None = None
    host: str | None = None
    secret: str | None = None
    ip: str | None = None
    token: str | None = None  # ``name2``: the PBX unit id carried in every body


@dataclass(frozen=True, slots=True)
class SyncCounts:
    """The counts of one sync: the one record the importer returns, ``sync_runs`` stores, the
    CLI prints and Dagster reports (SPEC §3 per-run history)."""

    rows_read: int = 0
    new_calls: int = 0
    updated_calls: int = 0
    new_events: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0  # kept for the sync_runs column; UniqueIds are per enterprise (always 0)
    bytes_transferred: int = 0


class SourceRow(NamedTuple):
    """One row of APIlogs/AlternativeAPIlogs, values exactly as SQLite returned them.

    A NamedTuple so the reader can wrap a million fetched tuples cheaply (``SourceRow._make``).
    """

    id: int
    date_time: SqliteValue
    event: SqliteValue
    unique_id: SqliteValue
    request: SqliteValue
    status: SqliteValue


class Event(NamedTuple):
    """A row that parsed into a JSON object: stored in ``call_events`` (SPEC §4.1).

    The first eight fields are, in this order, the event writer's ``EventRow``.
    """

    source_id: int
    unique_id: str
    event_type: str
    event_timestamp: datetime | None  # UTC
    canonical_json: str
    body_hash: bytes
    delivered: bool
    status: str | None
    body: dict[str, Any]


# What the parser hands the event writer per event: everything but the call id and the
# constants. (source_id, unique_id, event_type, event_timestamp, canonical_json, body_hash,
# delivered, status, bridge_id, local_base)
EventRow = tuple[int, str, str, Any, str, bytes, bool, "str | None", "str | None", "str | None"]
# (source_id, unique_id, event_type, body_hash, event_timestamp, delivered, bridge_id, local_base)
SightingRow = tuple[int, str, str, bytes, Any, bool, "str | None", "str | None"]


class Rejected(NamedTuple):
    """A row that cannot be an event, kept with its identity, raw text and the reason."""

    source_id: int
    event_type: str | None
    unique_id: str | None
    raw_text: str | None
    reason: str


class Call(NamedTuple):
    unique_id: str
    enterprise_id: str
    token: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None
    phone_number: str | None
    trunk: str | None
    main_extension: str | None
    extensions_count: int
    call_type: str | None
    call_status: str | None
    is_answered: bool
    data_source: str
    asterisk_host: str | None
    raw_json: str
    answered_by: str | None = None
    answered_at: datetime | None = None
    final_extension: str | None = None
    transfer_chain: str = "[]"  # JSON array of the parties that held the conversation
    leg_count: int = 1
    shape: str | None = None  # one of SHAPES (SPEC §4.2)

    @property
    def phone_key(self) -> str | None:
        """The outside number's matching key (SPEC §4.7, ``numbers.number_key``)."""
        return number_key(self.phone_number)


class Leg(NamedTuple):
    """One UniqueId of a conversation (SPEC §3 ``call_legs``): nothing the PBX recorded is lost."""

    unique_id: str
    role: str  # 'primary' | 'leg'
    channel: str | None
    call_type: str | None
    call_status: str | None
    phone_number: str | None
    extensions: str | None  # the chosen hangup's Extensions as written (JSON)
    start_time: datetime | None
    end_time: datetime | None
    raw_json: str | None  # the chosen hangup body; None when the UniqueId has no hangup
    link: str | None = None  # one of LINKS: the rule that put it in its conversation (SPEC §4.2)


class Participant(NamedTuple):
    unique_id: str
    extension: str
    participant_status: str  # 'answered' | 'no_answer'
    ring_order: int
    dial_start: datetime | None
    answer_time: datetime | None
    hangup_time: datetime | None
    talk_order: int | None = None  # position in the call's transfer_chain


class LegOwner(NamedTuple):
    """Where a UniqueId is filed today: its call (None for a forwarding leg without one)."""

    call_id: int | None
    call_unique_id: str | None
    data_source: str | None
