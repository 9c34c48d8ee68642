"""The values that flow through the core: source rows in, events/rejects/calls/participants out.

The per-row values are NamedTuples: immutable like frozen dataclasses, but built in C — a
frozen dataclass spends ~2 µs per instance in ``object.__setattr__``, which is 10 % of an
import at a million rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, NamedTuple, Union

# What an untyped SQLite column can hand back.
SqliteValue = Union[str, int, float, bytes, None]

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


DATA_SOURCES = ("downloaded", "live", "migrated")


@dataclass(frozen=True, slots=True)
class Enterprise:
    """One row of ``enterprises`` as the pipeline needs it."""

    number: str
    name: str | None = None
    host: str | None = None
    secret: str | None = None
    ip: str | None = None
    token: str | None = None  # ``name2``: the PBX unit id carried in every body


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


class Rejected(NamedTuple):
    """A row that cannot be an event, kept with its identity, raw text and the reason."""

    source_id: int
    event_type: str | None
    unique_id: str | None
    raw_text: str | None
    reason: str


# Ordering of evidence: (file date, source id) — ids restart in every day file.
Order = tuple[date, int]


class HangupEvidence(NamedTuple):
    order: Order
    end_local: datetime | None  # parsed EndTime (PBX local), None when missing or malformed
    canonical_json: str
    delivered: bool
    live_table: bool  # read from AlternativeAPIlogs: counts for the live "already delivered" rule


class DialEvidence(NamedTuple):
    order: Order
    extensions: tuple[str, ...]
    at: datetime | None  # UTC


class BridgeEvidence(NamedTuple):
    order: Order
    caller_id: str | None
    at: datetime | None  # UTC


@dataclass(slots=True)
class CallEvidence:
    """Everything known about one UniqueId that a call and its participants are built from.

    Plain lists, one entry per row: a delivery retry repeats a body, and every rule that reads
    the evidence (the best hangup, the first dial, the first matching bridge, extensions in
    first-seen order) gives the same answer with or without the repeat — so it is kept rather
    than deduplicated (a dict per UniqueId would cost ~0.8 KB, 90 MB on a big file).
    """

    hangups: list[HangupEvidence] = field(default_factory=list)
    dials: list[DialEvidence] = field(default_factory=list)
    bridges: list[BridgeEvidence] = field(default_factory=list)
    live_delivered_hangup: bool = False


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


class Participant(NamedTuple):
    unique_id: str
    extension: str
    participant_status: str  # 'answered' | 'no_answer'
    ring_order: int
    dial_start: datetime | None
    answer_time: datetime | None
    hangup_time: datetime | None
