"""SPEC §4.5 headline figures, over conversations (``calls``), never over legs: calls, answered
share, average duration, legs folded in and transfers — per enterprise and data source, per
PBX-local day, and per extension (rang, answered, missed)."""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, text


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
    missed: int  # rang, never held


_CHAIN_LENGTH = "coalesce(json_array_length(transfer_chain), 0)"


def _filters(enterprises: Collection[str] | None) -> tuple[str, dict[str, Any]]:
    if enterprises is None:
        return "", {}
    return " WHERE enterprise_id IN :ents", {"ents": sorted(enterprises)}


def call_stats(
    conn: Connection, *, by_day: bool = False,
    zone_of: Callable[[str], ZoneInfo] | None = None,
    enterprises: Collection[str] | None = None,
) -> list[CallStats]:
    """Per enterprise and data source (and per PBX-local day with ``by_day``; ``zone_of`` is the
    time-zone resolver, UTC when absent)."""
    where, params = _filters(enterprises)
    if not by_day:
        sql = (
            "SELECT enterprise_id, data_source, count(*), sum(CASE WHEN is_answered THEN 1 ELSE 0 END),"
            f" avg(duration), sum(leg_count - 1), sum(CASE WHEN {_CHAIN_LENGTH} > 1"
            f" THEN {_CHAIN_LENGTH} - 1 ELSE 0 END) FROM calls{where}"
            " GROUP BY enterprise_id, data_source ORDER BY enterprise_id, data_source"
        )
        return [
            _stats(ent, source, None, int(n), int(ok or 0), avg, int(legs or 0), int(hops or 0))
            for ent, source, n, ok, avg, legs, hops in conn.execute(_text(sql, params), params)
        ]
    groups: dict[tuple[str, str, str | None], list[float]] = {}
    zones: dict[str, ZoneInfo] = {}
    result = conn.execute(
        _text(
            "SELECT enterprise_id, data_source, start_time, is_answered, duration, leg_count,"
            f" {_CHAIN_LENGTH} FROM calls{where}", params,
        ),
        params,
    )
    for ent, source, start, answered, duration, legs, hops in result:
        zone = zones.get(ent)
        if zone is None:
            zone = zones[ent] = zone_of(ent) if zone_of else ZoneInfo("UTC")
        day = _local_day(start, zone)
        acc = groups.setdefault((ent, source, day), [0, 0, 0.0, 0, 0, 0])
        acc[0] += 1
        acc[1] += 1 if answered else 0
        if duration is not None:
            acc[2] += duration
            acc[3] += 1
        acc[4] += (legs or 1) - 1
        acc[5] += max((hops or 0) - 1, 0)
    return [
        _stats(ent, source, day, int(a[0]), int(a[1]), a[2] / a[3] if a[3] else None, int(a[4]), int(a[5]))
        for (ent, source, day), a in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    ]


def extension_stats(conn: Connection, *, enterprises: Collection[str] | None = None) -> list[ExtensionStats]:
    """Per extension (and outside forwarding target): conversations it rang in, held, missed."""
    where, params = _filters(enterprises)
    where = where.replace("enterprise_id", "c.enterprise_id")
    sql = (
        "SELECT c.enterprise_id, p.extension, count(*),"
        " sum(CASE WHEN p.participant_status = 'answered' THEN 1 ELSE 0 END)"
        f" FROM call_participants p JOIN calls c ON c.id = p.call_id{where}"
        " GROUP BY c.enterprise_id, p.extension ORDER BY c.enterprise_id, p.extension"
    )
    return [
        ExtensionStats(ent, ext, int(rang), int(held or 0), int(rang) - int(held or 0))
        for ent, ext, rang, held in conn.execute(_text(sql, params), params)
    ]


def _text(sql: str, params: dict[str, Any]) -> Any:
    statement = text(sql)
    if "ents" in params:
        statement = statement.bindparams(bindparam("ents", expanding=True))
    return statement


def _local_day(value: Any, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date().isoformat()


def _stats(ent: str, source: str, day: str | None, calls: int, answered: int, avg: Any,
           legs: int, transfers: int) -> CallStats:
    return CallStats(
        enterprise_id=ent, data_source=source, day=day, calls=calls, answered=answered,
        answered_share=answered / calls if calls else 0.0,
        avg_duration=float(avg) if avg is not None else None,
        legs_folded=legs, transfers=transfers,
    )
