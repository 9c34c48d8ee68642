"""SPEC §4.5 headline figures, over conversations (``calls``), never over legs: calls, answered
share, average duration, legs folded in and transfers — per enterprise and data source, per
PBX-local day, per extension (rang, answered, missed split into nobody-answered and
answered-elsewhere) and per conversation shape (SPEC §4.2), for a range of PBX-local days."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, text

from .utc import UtcDateTime

#: how a conversation without a shape (imported before shapes were computed) is reported
UNKNOWN_SHAPE = "unknown"


@dataclass(frozen=True)
class CallStats:
    enterprise_id: str
    data_source: str
    day: str | None  # PBX-local date of start_time, when grouped by day
    calls: int
    answered: int
    answered_share: float
    avg_duration: float | None
    legs_folded: int = 0  # UniqueIds folded into these conversations besides their primaries
    transfers: int = 0  # hand-overs: each step of a transfer chain


@dataclass(frozen=True)
class ExtensionStats:
    enterprise_id: str
    extension: str
    rang: int  # conversations it was a participant of
    answered: int  # … and held
    missed: int  # rang, never held (= missed_unanswered + missed_answered_elsewhere)
    missed_unanswered: int = 0  # … and nobody held the conversation
    missed_answered_elsewhere: int = 0  # … while a colleague held it (a ring group did its job)


@dataclass(frozen=True)
class ShapeStats:
    enterprise_id: str
    shape: str  # calls.shape (SPEC §4.2), UNKNOWN_SHAPE when NULL
    calls: int
    answered: int
    answered_share: float
    avg_duration: float | None
    day: str | None = None  # PBX-local date of start_time, when grouped by day


@dataclass(frozen=True)
class DayRange:
    """PBX-local days, both ends inclusive; an open end is unbounded."""

    first: date | None = None
    last: date | None = None

    def __post_init__(self) -> None:
        if self.first and self.last and self.first > self.last:
            raise ValueError(f"date range reversed: {self.first} is after {self.last}")

    @property
    def bounded(self) -> bool:
        return self.first is not None or self.last is not None


ZoneOf = Callable[[str], ZoneInfo]


@dataclass(frozen=True)
class StatsScope:
    """Which calls a statistic counts: of some enterprises (all when None), started in some
    PBX-local days (all when None), placed in their days by a time-zone resolver (UTC when
    absent)."""

    enterprises: Collection[str] | None = None
    days: DayRange | None = None
    zone_of: ZoneOf | None = None


ALL_CALLS = StatsScope()
_CHAIN_LENGTH = "coalesce(json_array_length(transfer_chain), 0)"
_UTC = UtcDateTime()


def _zone(zone_of: ZoneOf | None, ent: str, cache: dict[str, ZoneInfo]) -> ZoneInfo:
    zone = cache.get(ent)
    if zone is None:
        zone = cache[ent] = zone_of(ent) if zone_of else ZoneInfo("UTC")
    return zone


def _scopes(
    conn: Connection, enterprises: Collection[str] | None, days: DayRange | None,
    zone_of: ZoneOf | None, alias: str = "",
) -> Iterator[tuple[str, dict[str, Any]]]:
    """WHERE clauses (with their parameters) that together cover the selection exactly once.

    Why one clause per time zone: a PBX-local day is a different UTC span in each zone, and the
    start_time index is used only with plain bounds. Enterprises usually share one zone.
    """
    col = f"{alias}." if alias else ""
    if days is None or not days.bounded:
        if enterprises is None:
            yield "", {}
        else:
            yield f" WHERE {col}enterprise_id IN :ents", {"ents": sorted(enterprises)}
        return
    if enterprises is None:
        enterprises = list(conn.execute(text("SELECT DISTINCT enterprise_id FROM calls")).scalars())
    cache: dict[str, ZoneInfo] = {}
    by_zone: dict[str, list[str]] = {}
    for ent in sorted(enterprises):
        by_zone.setdefault(_zone(zone_of, ent, cache).key, []).append(ent)
    for _key, ents in sorted(by_zone.items()):
        zone = cache[ents[0]]
        clause = f" WHERE {col}enterprise_id IN :ents"
        params: dict[str, Any] = {"ents": ents}
        if days.first is not None:
            clause += f" AND {col}start_time >= :lo"
            params["lo"] = datetime.combine(days.first, time(0), zone).astimezone(UTC)
        if days.last is not None:
            clause += f" AND {col}start_time < :hi"
            params["hi"] = datetime.combine(days.last + timedelta(days=1), time(0), zone).astimezone(UTC)
        yield clause, params


def call_stats(conn: Connection, scope: StatsScope = ALL_CALLS, *, by_day: bool = False) -> list[CallStats]:
    """Per enterprise and data source (and per PBX-local day with ``by_day``; ``zone_of`` is the
    time-zone resolver, UTC when absent), over the calls of the scope."""
    enterprises, days, zone_of = scope.enterprises, scope.days, scope.zone_of
    if not by_day:
        out: list[CallStats] = []
        for where, params in _scopes(conn, enterprises, days, zone_of):
            sql = (
                "SELECT enterprise_id, data_source, count(*), sum(CASE WHEN is_answered THEN 1 ELSE 0 END),"
                f" avg(duration), sum(leg_count - 1), sum(CASE WHEN {_CHAIN_LENGTH} > 1"
                f" THEN {_CHAIN_LENGTH} - 1 ELSE 0 END) FROM calls{where}"
                " GROUP BY enterprise_id, data_source"
            )
            out += [
                _stats((ent, source, None), (int(n), int(ok or 0), avg, int(legs or 0), int(hops or 0)))
                for ent, source, n, ok, avg, legs, hops in conn.execute(_text(sql, params), params)
            ]
        return sorted(out, key=lambda s: (s.enterprise_id, s.data_source))
    groups: dict[tuple[str, str, str | None], list[float]] = {}
    zones: dict[str, ZoneInfo] = {}
    for where, params in _scopes(conn, enterprises, days, zone_of):
        result = conn.execute(
            _text(
                "SELECT enterprise_id, data_source, start_time, is_answered, duration, leg_count,"
                f" {_CHAIN_LENGTH} FROM calls{where}", params, reads_start=True,
            ),
            params,
        )
        for ent, source, start, answered, duration, legs, hops in result:
            day = _local_day(start, _zone(zone_of, ent, zones))
            acc = groups.setdefault((ent, source, day), [0, 0, 0.0, 0, 0, 0])
            acc[0] += 1
            acc[1] += 1 if answered else 0
            if duration is not None:
                acc[2] += duration
                acc[3] += 1
            acc[4] += (legs or 1) - 1
            acc[5] += max((hops or 0) - 1, 0)
    return [
        _stats((ent, source, day), (int(a[0]), int(a[1]), a[2] / a[3] if a[3] else None, int(a[4]), int(a[5])))
        for (ent, source, day), a in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    ]


def extension_stats(conn: Connection, scope: StatsScope = ALL_CALLS) -> list[ExtensionStats]:
    """Per extension (and outside forwarding target): conversations it rang in, held, missed —
    missed split into ``missed_unanswered`` (nobody held the conversation) and
    ``missed_answered_elsewhere`` (a colleague held it), SPEC §4.5."""
    out: list[ExtensionStats] = []
    for where, params in _scopes(conn, scope.enterprises, scope.days, scope.zone_of, alias="c"):
        sql = (
            "SELECT c.enterprise_id, p.extension, count(*),"
            " sum(CASE WHEN p.participant_status = 'answered' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN p.participant_status <> 'answered' AND NOT c.is_answered THEN 1 ELSE 0 END),"
            " sum(CASE WHEN p.participant_status <> 'answered' AND c.is_answered THEN 1 ELSE 0 END)"
            f" FROM call_participants p JOIN calls c ON c.id = p.call_id{where}"
            " GROUP BY c.enterprise_id, p.extension"
        )
        for ent, ext, rang, held, nobody, elsewhere in conn.execute(_text(sql, params), params):
            out.append(ExtensionStats(
                ent, ext, int(rang), int(held or 0), int(rang) - int(held or 0),
                int(nobody or 0), int(elsewhere or 0),
            ))
    return sorted(out, key=lambda s: (s.enterprise_id, s.extension))


def shape_stats(
    conn: Connection, scope: StatsScope = ALL_CALLS, *, by_day: bool = False, data_source: str | None = None,
) -> list[ShapeStats]:
    """Per enterprise and conversation shape (SPEC §4.2; NULL counts as ``unknown``): calls,
    answered, average duration — and per PBX-local day with ``by_day``."""
    enterprises, days, zone_of = scope.enterprises, scope.days, scope.zone_of
    groups: dict[tuple[str, str | None, str], list[float]] = {}
    zones: dict[str, ZoneInfo] = {}
    for where, params in _scopes(conn, enterprises, days, zone_of):
        if data_source is not None:
            where += (" AND" if where else " WHERE") + " data_source = :source"
            params = {**params, "source": data_source}
        if by_day:
            sql = f"SELECT enterprise_id, shape, start_time, is_answered, duration FROM calls{where}"
            rows: Any = (
                (ent, shape, _local_day(start, _zone(zone_of, ent, zones)), 1, 1 if ok else 0,
                 duration, 1 if duration is not None else 0)
                for ent, shape, start, ok, duration in conn.execute(_text(sql, params, reads_start=True), params)
            )
        else:
            sql = (
                "SELECT enterprise_id, shape, NULL, count(*), sum(CASE WHEN is_answered THEN 1 ELSE 0 END),"
                f" sum(duration), count(duration) FROM calls{where} GROUP BY enterprise_id, shape"
            )
            rows = conn.execute(_text(sql, params), params)
        for ent, shape, day, n, ok, total, timed in rows:
            acc = groups.setdefault((ent, day, shape or UNKNOWN_SHAPE), [0, 0, 0.0, 0])
            acc[0] += int(n)
            acc[1] += int(ok or 0)
            acc[2] += float(total or 0)
            acc[3] += int(timed or 0)
    return [
        ShapeStats(
            enterprise_id=ent, shape=shape, calls=int(a[0]), answered=int(a[1]),
            answered_share=a[1] / a[0] if a[0] else 0.0,
            avg_duration=a[2] / a[3] if a[3] else None, day=day,
        )
        for (ent, day, shape), a in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2]))
    ]


def _text(sql: str, params: dict[str, Any], *, reads_start: bool = False) -> Any:
    """The statement with its bounds typed like ``calls.start_time``; ``reads_start``: the
    selected ``start_time`` reads back as aware UTC too."""
    statement = text(sql)
    if "ents" in params:
        statement = statement.bindparams(bindparam("ents", expanding=True))
    for bound in ("lo", "hi"):
        if bound in params:  # stored the way the calls table stores it (SQLite: text in UTC)
            statement = statement.bindparams(bindparam(bound, type_=_UTC))
    if reads_start:
        return statement.columns(start_time=_UTC)
    return statement


def _local_day(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).date().isoformat() if value is not None else None


def _stats(group: tuple[str, str, str | None], totals: tuple[int, int, Any, int, int]) -> CallStats:
    """One row of ``call_stats``: its group (enterprise, data source, day) and totals (calls,
    answered, average duration, legs folded, transfers)."""
    ent, source, day = group
    calls, answered, avg, legs, transfers = totals
    return CallStats(
        enterprise_id=ent, data_source=source, day=day, calls=calls, answered=answered,
        answered_share=answered / calls if calls else 0.0,
        avg_duration=float(avg) if avg is not None else None,
        legs_folded=legs, transfers=transfers,
    )
