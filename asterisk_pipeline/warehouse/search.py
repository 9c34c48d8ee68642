"""Finding conversations (SPEC §5 ``GET /calls``, ``calls search``): one filter record, one
query verb, keyset pages.

Why keyset pages (newest first: ``start_time`` descending, then ``id`` descending) and not
OFFSET: a page starts strictly after the last row of the page before, by value, so calls
imported between two pages never shift a row onto the next page (a repeat) or off it (a
skip), and page 1,000 costs what page 1 costs. Calls whose start is unknown (NULL, SPEC §4.2)
come after every dated call, by id.

Why every predicate is index-backed: a number is its SPEC §4.7 key (``calls.phone_key``,
indexed with the start time), an extension is a ``call_participants`` row (indexed by
extension and by call), a range of PBX-local days is a plain ``start_time`` range per time
zone. See migration 0009 for the indexes.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, bindparam, exists, not_, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from .schema import call_participants, calls, enterprises
from .stats import DayRange

#: Directions as ``calls.call_type`` stores them, by the names an operator types.
DIRECTIONS = {"incoming": "0", "outgoing": "1", "internal": "2"}

#: The columns a found call is answered with (never ``token``: it is the enterprise's secret).
COLUMNS = (
    "id", "enterprise_id", "unique_id", "start_time", "end_time", "duration", "phone_number",
    "call_type", "call_status", "is_answered", "answered_by", "answered_at", "main_extension",
    "final_extension", "transfer_chain", "extensions_count", "leg_count", "shape", "trunk",
    "data_source",
)
_SELECTED = [calls.c[name] for name in COLUMNS]


@dataclass(frozen=True)
class Zones:
    """The PBX time zone of every enterprise: ``default``, except those in ``exceptions``."""

    default: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    exceptions: Mapping[str, ZoneInfo] = field(default_factory=dict)

    def of(self, enterprise: str) -> ZoneInfo:
        return self.exceptions.get(enterprise, self.default)


@dataclass(frozen=True)
class CallFilter:
    """What to find; every field set must hold (an empty filter finds every call).

    ``phone_key`` is ``numbers.number_key`` of the number searched; ``extension`` matches a
    party that rang or held the conversation (a ``call_participants`` row, SPEC §4.4);
    ``days`` are PBX-local days of the start, each enterprise in its own zone (``zones``);
    ``direction`` is ``calls.call_type`` (``'0'`` incoming, ``'1'`` outgoing, ``'2'`` internal)."""

    enterprises: tuple[str, ...] = ()
    phone_key: str | None = None
    extension: str | None = None
    days: DayRange = field(default_factory=DayRange)
    zones: Zones = field(default_factory=Zones)
    direction: str | None = None
    answered: bool | None = None
    shape: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ended: its last row's start (None: in the undated calls) and id."""

    start: datetime | None
    id: int


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next: Position | None  # None: nothing after this page


def search_calls(conn: Connection, wanted: CallFilter, limit: int, after: Position | None = None) -> Page:
    """Up to ``limit`` calls matching ``wanted``, newest first, strictly after ``after``."""
    conditions = _conditions(wanted)
    rows: list[dict[str, Any]] = []
    if after is None or after.start is not None:
        dated = [*conditions, calls.c.start_time.is_not(None)]
        if after is not None:
            mark = tuple_(bindparam("after_start", after.start, type_=calls.c.start_time.type),
                          bindparam("after_id", after.id))
            dated.append(tuple_(calls.c.start_time, calls.c.id) < mark)
        rows = _fetch(conn, dated, (calls.c.start_time.desc(), calls.c.id.desc()), limit + 1)
    if len(rows) <= limit and not wanted.days.bounded:  # a dated range never holds undated calls
        undated = [*conditions, calls.c.start_time.is_(None)]
        if after is not None and after.start is None:
            undated.append(calls.c.id < after.id)
        rows += _fetch(conn, undated, (calls.c.id.desc(),), limit + 1 - len(rows))
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, Position(rows[-1]["start_time"], int(rows[-1]["id"])))


def _fetch(conn: Connection, conditions: list[ColumnElement[bool]], order: tuple[Any, ...], n: int) -> list[dict[str, Any]]:
    """The page's ids first, then their rows: the ids of a search within an enterprise come from
    an index alone (calls (enterprise_id, start_time, id) carries is_answered, call_type and shape;
    call_participants (call_id, extension) answers the extension), so only the rows shown are read
    from the table, not every row the search walks past."""
    ids = select(calls.c.id).where(*conditions).order_by(*order).limit(n)
    query = select(*_SELECTED).where(calls.c.id.in_(ids)).order_by(*order)
    return [dict(r) for r in conn.execute(query).mappings()]


def iter_calls(engine: Engine, wanted: CallFilter, batch: int = 2_000, after: Position | None = None) -> Iterator[dict[str, Any]]:
    """Every call matching ``wanted``, newest first, read a page at a time on a fresh
    connection: memory holds one page, and no transaction stays open while a slow reader
    (an HTTP client, a pipe) takes its time."""
    while True:
        with engine.connect() as conn:
            page = search_calls(conn, wanted, batch, after)
        yield from page.rows
        if page.next is None:
            return
        after = page.next


def unknown_enterprises(conn: Connection, numbers: tuple[str, ...]) -> list[str]:
    """The numbers neither in ``enterprises`` nor in ``calls`` (a typo must not pass as "no
    calls"); one that left the table but still has stored calls is known."""
    if not numbers:
        return []
    listed = set(conn.execute(select(enterprises.c.number).where(enterprises.c.number.in_(numbers))).scalars())
    rest = [n for n in numbers if n not in listed]
    stored = {n for n in rest if conn.execute(
        select(calls.c.id).where(calls.c.enterprise_id == n).limit(1)).first() is not None}
    return [n for n in rest if n not in stored]


def _conditions(wanted: CallFilter) -> list[ColumnElement[bool]]:
    c = calls.c
    out: list[ColumnElement[bool]] = []
    if wanted.enterprises:
        out.append(c.enterprise_id.in_(wanted.enterprises))
    if wanted.phone_key is not None:
        out.append(c.phone_key == wanted.phone_key)
    if wanted.extension is not None:
        p = call_participants.c
        out.append(exists().where(p.call_id == c.id, p.extension == wanted.extension))
    if wanted.direction is not None:
        out.append(c.call_type == wanted.direction)
    if wanted.answered is not None:
        out.append(c.is_answered if wanted.answered else not_(c.is_answered))
    if wanted.shape is not None:
        out.append(c.shape == wanted.shape)
    if wanted.days.bounded:
        out.append(_days(wanted))
    return out


def _days(wanted: CallFilter) -> ColumnElement[bool]:
    """The PBX-local days as plain ``start_time`` bounds, one pair per time zone: a day is a
    different UTC span in each zone, and the index is used only with plain bounds."""
    zones = wanted.zones
    groups: dict[str, tuple[ZoneInfo, list[str]]] = {}
    if wanted.enterprises:
        for ent in wanted.enterprises:
            zone = zones.of(ent)
            groups.setdefault(zone.key, (zone, []))[1].append(ent)
        parts = [and_(calls.c.enterprise_id.in_(ents), *_bounds(wanted.days, zone)) for zone, ents in groups.values()]
        return parts[0] if len(parts) == 1 else or_(*parts)
    for ent, zone in sorted(zones.exceptions.items()):
        if zone.key != zones.default.key:
            groups.setdefault(zone.key, (zone, []))[1].append(ent)
    others = [e for _zone, ents in groups.values() for e in ents]
    rest = and_(*_bounds(wanted.days, zones.default), *([calls.c.enterprise_id.not_in(others)] if others else []))
    parts = [rest, *(and_(calls.c.enterprise_id.in_(ents), *_bounds(wanted.days, zone)) for zone, ents in groups.values())]
    return parts[0] if len(parts) == 1 else or_(*parts)


def _bounds(days: DayRange, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    lo = _midnight(days.first, zone) if days.first is not None else None
    hi = _midnight(days.last + timedelta(days=1), zone) if days.last is not None and days.last < date.max else None
    if lo is not None:
        out.append(calls.c.start_time >= lo)
    if hi is not None:
        out.append(calls.c.start_time < hi)
    return out


def _midnight(day: date, zone: ZoneInfo) -> datetime | None:
    """The UTC moment a PBX-local day begins; None at the ends of the calendar (year 1 in a
    zone east of UTC), where the bound excludes nothing."""
    try:
        return datetime.combine(day, time(0), zone).astimezone(UTC)
    except OverflowError:
        return None
