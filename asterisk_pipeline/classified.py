"""A chunk of source rows read in one pass: each row parsed, hashed and read for its
conversation once (SPEC §4.1), into what the event writer and the open conversations take.

Pure: the import runs it chunk by chunk (``sync.importer``), the rebuild builds its sightings
with ``sighting_row``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from .conversations import ConvRow, conv_row, parse_channel
from .model import Event, EventRow, Rejected, SightingRow, SourceRow
from .normalize import classify_event, unprocessable


@dataclass
class Classified:
    """One chunk of source rows, classified."""

    events: list[EventRow] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    sightings: list[SightingRow] = field(default_factory=list)
    fresh: list[ConvRow] = field(default_factory=list)  # the conversation rows it holds


_NO_KEYS = (None, None)


def classify_chunk(chunk: Sequence[SourceRow], tz: ZoneInfo, file_date: date, live_table: bool) -> Classified:
    """One pass over a chunk: each row parsed, hashed and read for its conversation once.

    A value no rule foresaw, in the classification or in the conversation's view of the row,
    quarantines the row (``unprocessable``) exactly as ``classify_row`` does.
    """
    out = Classified()
    events, rejects, sightings, fresh = out.events.append, out.rejects.append, out.sightings.append, out.fresh.append
    for row in chunk:
        try:
            outcome = classify_event(row, tz, file_date)
            if type(outcome) is not Event:
                rejects(outcome)  # type: ignore[arg-type]
                continue
            seen = conv_row(outcome, (file_date, outcome.source_id), live_table)
        except Exception as exc:  # noqa: BLE001 - the quarantine boundary of one row
            rejects(unprocessable(row, exc))
            continue
        if seen is None:
            events(outcome[:8] + _NO_KEYS)  # Event starts with EventRow
            continue
        sighting = sighting_row(seen, outcome.body_hash)
        events(outcome[:8] + sighting[6:])  # the event carries its row's conversation keys
        fresh(seen)
        sightings(sighting)
    return out


def sighting_row(row: ConvRow, body_hash: bytes) -> SightingRow:
    channel = parse_channel(row.channel)
    base = channel.local_base if channel is not None else None
    return (row.order[1], row.unique_id, row.kind, body_hash, row.at, row.delivered, row.bridge_id, base)
