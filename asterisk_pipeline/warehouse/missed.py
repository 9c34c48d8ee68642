"""Storage verbs of ``missed_calls`` (SPEC §4.7): the calls a follow-up reads, the rows it
writes back, and the reads of the CLI, the API and the asset. No rule lives here: ``followup``
decides, ``sync/missed.py`` orchestrates, inside the caller's transaction.

Statuses are read as of a clock (``now``): an ``'open'`` row whose ``expires_at`` has passed
reads as ``'expired'`` (``EFFECTIVE_STATUS``), so every reader tells the truth between the
imports and asset runs that store it so (``expire_open``).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, text

from .staging import ProbeQuery, StagedKeys, Stager
from .utc import as_utc

MISSED_COLUMNS = (
    "call_id, enterprise_id, phone_number, phone_key, missed_at, expires_at, status,"
    " resolved_call_id, resolved_at, resolved_by, seconds_to_resolution, callback_attempts"
)
_PG_TYPES = ["int8", "text", "text", "text", "timestamptz", "timestamptz", "text", "int8",
             "timestamptz", "text", "int4", "int4"]
#: The stored status as of ``:now``.
EFFECTIVE_STATUS = "CASE WHEN m.status = 'open' AND m.expires_at <= :now THEN 'expired' ELSE m.status END"
_FOLLOWUP_COLUMNS = ("c.id, c.start_time, c.call_type, c.is_answered, c.answered_by, c.main_extension,"
                     " c.phone_number, c.phone_key")


class FollowupRow(NamedTuple):
    """A ``calls`` row as the follow-up reads it (fields of ``followup.FollowupCall``)."""

    call_id: int
    start: datetime
    call_type: str | None
    is_answered: bool
    answered_by: str | None
    main_extension: str | None
    phone_number: str | None
    phone_key: str | None


def _followup_row(row: Sequence[Any]) -> FollowupRow:
    return FollowupRow(int(row[0]), as_utc(row[1]), row[2], bool(row[3]), row[4], row[5], row[6], row[7])  # type: ignore[arg-type]


@dataclass(frozen=True)
class Span:
    """Start times ``[low, high)``, UTC."""

    low: datetime
    high: datetime


def calls_of_keys(
    stager: Stager, enterprise: str, keys: Sequence[str] | StagedKeys, span: Span,
) -> Iterator[FollowupRow]:
    """The enterprise's calls with these number keys that started in ``span`` (one index probe
    per key: ``(enterprise_id, phone_key, start_time)``), a key's calls together, streamed: an
    import's keys are every number of its day, whose calls at once held ~70 MB, the peak of a
    200,000-call import (issue 21)."""
    if not keys:  # (``StagedKeys`` always probes)
        return iter(())
    result = stager.probe(keys, enterprise, ProbeQuery(
        _FOLLOWUP_COLUMNS, "calls c",
        "c.enterprise_id = k.ent AND c.phone_key = k.key AND c.start_time >= :lo AND c.start_time < :hi",
        {"lo": stager.time(span.low), "hi": stager.time(span.high)},
        order="8", stream=True,  # 8: phone_key
    ))
    return (_followup_row(row) for row in result)


def keyless_missed(stager: Stager, enterprise: str, span: Span) -> list[FollowupRow]:
    """The enterprise's missed calls without a number key (nothing follows them up)."""
    result = stager.conn.execute(text(
        f"SELECT {_FOLLOWUP_COLUMNS} FROM calls c WHERE c.enterprise_id = :ent AND c.phone_key IS NULL"
        " AND c.start_time >= :lo AND c.start_time < :hi AND c.call_type = '0' AND NOT c.is_answered"
    ), {"ent": enterprise, "lo": stager.time(span.low), "hi": stager.time(span.high)})
    return [_followup_row(row) for row in result]


def keys_and_times(stager: Stager, call_ids: Sequence[int]) -> list[tuple[str | None, datetime | None]]:
    """The stored (number key, start) of these calls, before a write changes or removes them."""
    if not call_ids:
        return []
    condition, params = stager.key_filter("id", sorted(set(call_ids)), key_type="bigint")
    result = stager.conn.execute(text(f"SELECT phone_key, start_time FROM calls WHERE {condition}"), params)
    return [(key, as_utc(start)) for key, start in result]


def replace_missed(
    stager: Stager, enterprise: str, scope: tuple[Sequence[str] | StagedKeys, bool, Span],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """The rows of the missed calls with these keys (``with_keyless``: and without a key) whose
    ``missed_at`` lies in ``span`` become ``rows`` (columns as ``MISSED_COLUMNS``)."""
    keys, with_keyless, span = scope
    params: dict[str, Any] = {"ent": enterprise, "lo": stager.time(span.low), "hi": stager.time(span.high)}
    in_span = "enterprise_id = :ent AND missed_at >= :lo AND missed_at < :hi"
    if keys:
        condition, extra = stager.key_filter("phone_key", keys)
        stager.conn.execute(text(f"DELETE FROM missed_calls WHERE {in_span} AND {condition}"), {**params, **extra})
    if with_keyless:
        stager.conn.execute(text(f"DELETE FROM missed_calls WHERE {in_span} AND phone_key IS NULL"), params)
    if rows:
        # a call whose key or start changed has its old row elsewhere: it goes by call id
        condition, extra = stager.key_filter("call_id", sorted({r[0] for r in rows}), key_type="bigint")
        stager.conn.execute(text(f"DELETE FROM missed_calls WHERE {condition}"), extra)
        insert_missed(stager, rows)


def insert_missed(stager: Stager, rows: Sequence[tuple[Any, ...]]) -> None:
    if stager.dialect == "postgresql":
        raw = stager.conn.connection.dbapi_connection
        with (
            raw.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f"COPY missed_calls ({MISSED_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(_PG_TYPES)
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in MISSED_COLUMNS.split(","))
    stager.conn.exec_driver_sql(f"INSERT INTO missed_calls ({MISSED_COLUMNS}) VALUES ({marks})", list(rows))


def delete_missed_of(conn: Connection, enterprise: str) -> None:
    conn.execute(text("DELETE FROM missed_calls WHERE enterprise_id = :ent"), {"ent": enterprise})


def stream_calls_by_key(conn: Connection, enterprise: str) -> Iterator[FollowupRow]:
    """Every call of the enterprise with a start time, by number key then start (server-side
    cursor: a warehouse of millions refills in bounded memory)."""
    result = conn.execute(text(
        f"SELECT {_FOLLOWUP_COLUMNS} FROM calls c WHERE c.enterprise_id = :ent AND c.start_time IS NOT NULL"
        " ORDER BY c.phone_key, c.start_time, c.id"
    ), {"ent": enterprise}, execution_options={"stream_results": True, "yield_per": 10_000})
    for row in result:
        yield _followup_row(row)


def expire_open(conn: Connection, now: datetime, enterprise: str | None = None) -> int:
    """Store 'expired' on the open rows whose window has passed; returns how many."""
    where = " AND enterprise_id = :ent" if enterprise is not None else ""
    return int(conn.execute(
        text(f"UPDATE missed_calls SET status = 'expired' WHERE status = 'open' AND expires_at <= :now{where}"),
        {"now": _bind(conn, now), "ent": enterprise},
    ).rowcount)


def _bind(conn: Connection, moment: datetime) -> Any:
    """A time as the dialect compares it with stored ones: SQLite's stored text form (see
    ``Stager.time``), an aware datetime for PostgreSQL."""
    moment = moment.astimezone(UTC)
    if conn.dialect.name == "sqlite":
        return moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    return moment


# ---------------------------------------------------------------------------------------------
# Reads: listings, pages, exports, statistics


@dataclass(frozen=True)
class MissedFilter:
    """Which rows a listing reads, as of ``now`` (statuses are effective ones)."""

    now: datetime
    enterprise: str | None = None
    status: str | None = None
    low: datetime | None = None  # missed_at >= low
    high: datetime | None = None  # missed_at < high


@dataclass(frozen=True)
class Keyset:
    """A page's position: rows after (missed_at, call_id), at most ``limit``."""

    limit: int
    after: tuple[datetime, int] | None = None


class MissedRow(NamedTuple):
    call_id: int
    enterprise_id: str
    unique_id: str
    phone_number: str | None
    missed_at: datetime
    status: str
    resolved_call_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None
    seconds_to_resolution: int | None
    callback_attempts: int
    expires_at: datetime


def _where(flt: MissedFilter, conn: Connection) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {"now": _bind(conn, flt.now)}
    if flt.enterprise is not None:
        clauses.append("m.enterprise_id = :ent")
        params["ent"] = flt.enterprise
    if flt.low is not None:
        clauses.append("m.missed_at >= :lo")
        params["lo"] = _bind(conn, flt.low)
    if flt.high is not None:
        clauses.append("m.missed_at < :hi")
        params["hi"] = _bind(conn, flt.high)
    if flt.status == "open":
        clauses.append("m.status = 'open' AND m.expires_at > :now")
    elif flt.status == "expired":
        clauses.append("(m.status = 'expired' OR (m.status = 'open' AND m.expires_at <= :now))")
    elif flt.status is not None:
        clauses.append("m.status = :status")
        params["status"] = flt.status
    return " AND ".join(clauses) or "1 = 1", params


def _missed_row(row: Sequence[Any]) -> MissedRow:
    return MissedRow(
        int(row[0]), row[1], row[2], row[3], as_utc(row[4]), row[5],  # type: ignore[arg-type]
        int(row[6]) if row[6] is not None else None, as_utc(row[7]), row[8],
        row[9], int(row[10]), as_utc(row[11]),  # type: ignore[arg-type]
    )


def missed_page(conn: Connection, flt: MissedFilter, page: Keyset) -> list[MissedRow]:
    """Up to ``page.limit`` rows after ``page.after``, by (missed_at, call_id)."""
    where, params = _where(flt, conn)
    if page.after is not None:
        where += " AND (m.missed_at > :after_t OR (m.missed_at = :after_t AND m.call_id > :after_id))"
        params["after_t"] = _bind(conn, page.after[0])
        params["after_id"] = page.after[1]
    sql = (
        f"SELECT m.call_id, m.enterprise_id, c.unique_id, m.phone_number, m.missed_at, {EFFECTIVE_STATUS},"
        " m.resolved_call_id, m.resolved_at, m.resolved_by, m.seconds_to_resolution,"
        " m.callback_attempts, m.expires_at"
        f" FROM missed_calls m JOIN calls c ON c.id = m.call_id WHERE {where}"
        " ORDER BY m.missed_at, m.call_id LIMIT :limit"
    )
    return [_missed_row(r) for r in conn.execute(text(sql), {**params, "limit": page.limit})]


def iter_missed(conn: Connection, flt: MissedFilter, batch: int = 5_000) -> Iterator[MissedRow]:
    """Every matching row, page by page (keyset): memory holds one page, whatever the total."""
    after: tuple[datetime, int] | None = None
    while True:
        rows = missed_page(conn, flt, Keyset(batch, after))
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].missed_at, rows[-1].call_id)


def count_open_older_than(
    conn: Connection, now: datetime, before: datetime, enterprises: Sequence[str] | None = None,
) -> list[tuple[str, int]]:
    """Per enterprise: rows still open (as of ``now``) whose missed call is older than ``before``."""
    where = " AND m.enterprise_id IN :ents" if enterprises is not None else ""
    stmt = text(
        "SELECT m.enterprise_id, count(*) FROM missed_calls m WHERE m.status = 'open'"
        f" AND m.expires_at > :now AND m.missed_at < :before{where} GROUP BY m.enterprise_id"
        " ORDER BY m.enterprise_id"
    )
    params: dict[str, Any] = {"now": _bind(conn, now), "before": _bind(conn, before)}
    if enterprises is not None:
        stmt = stmt.bindparams(bindparam("ents", expanding=True))
        params["ents"] = list(enterprises)
    return [(ent, int(n)) for ent, n in conn.execute(stmt, params)]
