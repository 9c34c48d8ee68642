"""Idempotent loading of one file and flow (SPEC §4.3), inside the caller's transaction.

Shape of one import, all in one transaction:

1. stream rows above the cursor → ``classify_row`` → staging tables (COPY on PostgreSQL,
   batched inserts on SQLite), keeping in memory only the small evidence calls are built from;
2. add the evidence already stored by earlier imports for the same UniqueIds, so a hangup that
   arrives in a later batch still sees its dials and bridges;
3. build calls and participants (pure), upsert them, then move the staged events into
   ``call_events`` (``ON CONFLICT DO NOTHING`` on the identity) linked to their calls, and link
   earlier unlinked events of the new calls;
4. store rejects, advance the cursor.

A kill at any point rolls everything back, so a re-run starts from the same cursor.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, bindparam, select, text

from ..model import (
    LIVE_TABLE,
    Call,
    CallEvidence,
    Enterprise,
    Event,
    Flow,
    Participant,
    Rejected,
    SourceRow,
)
from ..normalize import add_event_evidence, add_evidence, build_call, classify_row, live_call_wanted
from .schema import sync_cursors
from .upsert import dialect_insert

RowSource = Callable[[int], Iterable[Sequence[SourceRow]]]


@dataclass(frozen=True)
class ImportRequest:
    enterprise: Enterprise
    flow: Flow
    file_date: date
    tz: ZoneInfo
    force: bool = False  # ignore the cursor and read every row again (history force_all)
    live_import_all: bool = False


@dataclass(frozen=True)
class ImportCounts:
    rows_read: int
    new_calls: int
    updated_calls: int
    new_events: int
    duplicates: int
    rejected: int
    conflicts: int
    cursor_before: int
    cursor_after: int


# --------------------------------------------------------------------------------------------
# Staging tables, per dialect

_STAGE_DDL = {
    "postgresql": [
        "CREATE TEMP TABLE stage_events (source_id bigint, unique_id text, event_type text,"
        " event_timestamp timestamptz, raw_data json, body_hash bytea, delivered boolean,"
        " status text) ON COMMIT DROP",
        "CREATE TEMP TABLE stage_rejects (source_id bigint, event_type text, unique_id text,"
        " raw_text text, reason text) ON COMMIT DROP",
        "CREATE TEMP TABLE stage_uids (unique_id text PRIMARY KEY) ON COMMIT DROP",
        "CREATE TEMP TABLE stage_calls (unique_id text PRIMARY KEY, enterprise_id text, token text,"
        " start_time timestamptz, end_time timestamptz, duration integer, phone_number text,"
        " trunk text, main_extension text, extensions_count integer, call_type text,"
        " call_status text, is_answered boolean, data_source text, asterisk_host text,"
        " raw_data json) ON COMMIT DROP",
        "CREATE TEMP TABLE stage_participants (unique_id text, extension text,"
        " participant_status text, ring_order integer, dial_start timestamptz,"
        " answer_time timestamptz, hangup_time timestamptz) ON COMMIT DROP",
        "CREATE TEMP TABLE stage_owned (call_id bigint PRIMARY KEY) ON COMMIT DROP",
    ],
    "sqlite": [
        "CREATE TEMP TABLE stage_events (source_id INTEGER, unique_id TEXT, event_type TEXT,"
        " event_timestamp TEXT, raw_data TEXT, body_hash BLOB, delivered INTEGER, status TEXT)",
        "CREATE TEMP TABLE stage_rejects (source_id INTEGER, event_type TEXT, unique_id TEXT,"
        " raw_text TEXT, reason TEXT)",
        "CREATE TEMP TABLE stage_uids (unique_id TEXT PRIMARY KEY)",
        "CREATE TEMP TABLE stage_calls (unique_id TEXT PRIMARY KEY, enterprise_id TEXT, token TEXT,"
        " start_time TEXT, end_time TEXT, duration INTEGER, phone_number TEXT, trunk TEXT,"
        " main_extension TEXT, extensions_count INTEGER, call_type TEXT, call_status TEXT,"
        " is_answered INTEGER, data_source TEXT, asterisk_host TEXT, raw_data TEXT)",
        "CREATE TEMP TABLE stage_participants (unique_id TEXT, extension TEXT,"
        " participant_status TEXT, ring_order INTEGER, dial_start TEXT, answer_time TEXT,"
        " hangup_time TEXT)",
        "CREATE TEMP TABLE stage_owned (call_id INTEGER PRIMARY KEY)",
    ],
}
_STAGE_TABLES = (
    "stage_events", "stage_rejects", "stage_uids", "stage_calls", "stage_participants", "stage_owned",
)
_COLUMNS = {
    "stage_events": "source_id, unique_id, event_type, event_timestamp, raw_data, body_hash,"
    " delivered, status",
    "stage_rejects": "source_id, event_type, unique_id, raw_text, reason",
    "stage_uids": "unique_id",
    "stage_calls": "unique_id, enterprise_id, token, start_time, end_time, duration, phone_number,"
    " trunk, main_extension, extensions_count, call_type, call_status, is_answered, data_source,"
    " asterisk_host, raw_data",
    "stage_participants": "unique_id, extension, participant_status, ring_order, dial_start,"
    " answer_time, hangup_time",
}


class _Stager:
    """Bulk-writes rows into the staging tables: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        if self.dialect not in _STAGE_DDL:
            raise ValueError(f"unsupported database {self.dialect!r} (PostgreSQL or SQLite)")
        if self.dialect == "sqlite":
            for table in _STAGE_TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")
        for ddl in _STAGE_DDL[self.dialect]:
            conn.exec_driver_sql(ddl)

    def time(self, value: datetime | None) -> Any:
        """PostgreSQL takes aware datetimes; SQLite gets SQLAlchemy's naive-UTC text form."""
        if value is None or self.dialect == "postgresql":
            return value
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")

    def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        columns = _COLUMNS[table]
        if self.dialect == "postgresql":
            raw = self.conn.connection.dbapi_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns.split(","))
            self.conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def drop(self) -> None:
        if self.dialect == "sqlite":  # PostgreSQL drops them at commit
            for table in _STAGE_TABLES:
                self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")


# --------------------------------------------------------------------------------------------
# The import


def read_cursor(conn: Connection, enterprise: str, file_date: date, table: str) -> int:
    value = conn.execute(
        select(sync_cursors.c.last_source_id).where(
            sync_cursors.c.enterprise_id == enterprise,
            sync_cursors.c.file_date == file_date,
            sync_cursors.c.source_table == table,
        )
    ).scalar()
    return int(value or 0)


def import_rows(conn: Connection, request: ImportRequest, rows: RowSource) -> ImportCounts:
    """Import the rows of one file and flow above the cursor; the caller owns the transaction."""
    enterprise = request.enterprise.number
    table = request.flow.table
    live_table = table == LIVE_TABLE
    cursor_before = read_cursor(conn, enterprise, request.file_date, table)
    start_after = 0 if request.force else cursor_before
    stager = _Stager(conn)

    evidence: dict[str, CallEvidence] = {}
    rows_read = events_staged = rejected = 0
    last_id = start_after
    for chunk in rows(start_after):
        staged_events: list[tuple[Any, ...]] = []
        staged_rejects: list[tuple[Any, ...]] = []
        for row in chunk:
            outcome = classify_row(row, request.tz)
            if isinstance(outcome, Event):
                staged_events.append(_event_row(outcome, stager))
                add_event_evidence(evidence, outcome, request.file_date, live_table)
            else:
                staged_rejects.append(_reject_row(outcome))
        if chunk:
            last_id = max(last_id, chunk[-1].id)
        rows_read += len(chunk)
        events_staged += len(staged_events)
        rejected += len(staged_rejects)
        stager.write("stage_events", staged_events)
        stager.write("stage_rejects", staged_rejects)

    with_hangup = [uid for uid, known in evidence.items() if known.hangups]
    stager.write("stage_uids", [(uid,) for uid in with_hangup])
    _add_stored_evidence(conn, evidence, enterprise, stager.dialect)

    calls: list[Call] = []
    participants: list[Participant] = []
    for uid in with_hangup:
        known = evidence[uid]
        if request.flow is Flow.LIVE and not live_call_wanted(known, request.live_import_all):
            continue
        built = build_call(uid, known, request.enterprise, request.tz, request.flow.data_source)
        if built is not None:
            calls.append(built[0])
            participants.extend(built[1])
    del evidence
    stager.write("stage_calls", [_call_row(call, stager) for call in calls])
    stager.write("stage_participants", [_participant_row(p, stager) for p in participants])

    params = {
        "ent": enterprise,
        "ds": request.flow.data_source,
        "tbl": table,
        "fd": request.file_date,
    }
    new_calls, updated_calls, conflicts = _upsert_calls(conn, params)
    _upsert_participants(conn, params, replace=updated_calls > 0)
    new_events = _insert_events(conn, params)
    _link_earlier_events(conn, params)
    _execute(
        conn,
        "INSERT INTO rejected_events (enterprise_id, file_date, source_table, source_id,"
        " data_source, event_type, unique_id, raw_text, reason)"
        " SELECT :ent, :fd, :tbl, source_id, :ds, event_type, unique_id, raw_text, reason"
        " FROM stage_rejects WHERE true"
        " ON CONFLICT (enterprise_id, file_date, source_table, source_id) DO NOTHING",
        params,
    )
    cursor_after = max(cursor_before, last_id)
    if cursor_after != cursor_before or rows_read:
        _save_cursor(conn, enterprise, request.file_date, table, cursor_after)
    stager.drop()
    return ImportCounts(
        rows_read=rows_read,
        new_calls=new_calls,
        updated_calls=updated_calls,
        new_events=new_events,
        duplicates=events_staged - new_events,
        rejected=rejected,
        conflicts=conflicts,
        cursor_before=cursor_before,
        cursor_after=cursor_after,
    )


def _event_row(event: Event, stager: _Stager) -> tuple[Any, ...]:
    return (
        event.source_id,
        event.unique_id,
        event.event_type,
        stager.time(event.event_timestamp),
        event.canonical_json,
        event.body_hash,
        event.delivered,
        event.status,
    )


def _reject_row(reject: Rejected) -> tuple[Any, ...]:
    return (reject.source_id, reject.event_type, reject.unique_id, reject.raw_text, reject.reason)


def _call_row(call: Call, stager: _Stager) -> tuple[Any, ...]:
    return (
        call.unique_id, call.enterprise_id, call.token, stager.time(call.start_time),
        stager.time(call.end_time), call.duration, call.phone_number, call.trunk,
        call.main_extension, call.extensions_count, call.call_type, call.call_status,
        call.is_answered, call.data_source, call.asterisk_host, call.raw_json,
    )


def _participant_row(p: Participant, stager: _Stager) -> tuple[Any, ...]:
    return (
        p.unique_id, p.extension, p.participant_status, p.ring_order,
        stager.time(p.dial_start), stager.time(p.answer_time), stager.time(p.hangup_time),
    )


def _execute(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    statement = text(sql)
    if "fd" in params and ":fd" in sql:
        statement = statement.bindparams(bindparam("fd", type_=Date()))
    return conn.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql}).rowcount


def _add_stored_evidence(
    conn: Connection, evidence: dict[str, CallEvidence], enterprise: str, dialect: str
) -> None:
    """Evidence of earlier imports for the UniqueIds that have a hangup now."""
    raw_as_text = "e.raw_data::text" if dialect == "postgresql" else "e.raw_data"
    result = conn.execute(
        text(
            f"SELECT e.unique_id, e.event_type, e.body_hash, {raw_as_text}, e.event_timestamp,"
            " e.file_date, e.source_id, e.delivered, e.source_table"
            " FROM call_events e JOIN stage_uids u ON u.unique_id = e.unique_id"
            " WHERE e.enterprise_id = :ent AND e.event_type IN ('hangup', 'dial', 'bridge')"
        ),
        {"ent": enterprise},
    )
    for uid, event_type, body_hash, raw, at, file_date, source_id, delivered, table in result:
        add_evidence(
            evidence,
            unique_id=uid,
            event_type=event_type,
            body=json.loads(raw),
            body_hash=bytes(body_hash),
            canonical=raw,
            at=_db_time(at),
            order=(_db_date(file_date), int(source_id)),
            delivered=bool(delivered),
            live_table=table == LIVE_TABLE,
        )


def _db_time(value: Any) -> datetime | None:
    """A stored UTC time: aware from PostgreSQL, naive text from SQLite."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _db_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


_CALL_FIELDS = (
    "token", "start_time", "end_time", "duration", "phone_number", "trunk", "main_extension",
    "extensions_count", "call_type", "call_status", "is_answered", "asterisk_host", "raw_data",
)


def _upsert_calls(conn: Connection, params: dict[str, Any]) -> tuple[int, int, int]:
    """Insert new calls; recompute the ones this flow owns; only fill NULLs of other flows'.

    Returns (new, updated, conflicts): a conflict is a UniqueId already used by a call of
    another enterprise, left untouched and counted so the operator sees it.
    """
    existing = conn.execute(
        text(
            "SELECT count(*), "
            " coalesce(sum(CASE WHEN c.enterprise_id = s.enterprise_id THEN 1 ELSE 0 END), 0)"
            " FROM stage_calls s JOIN calls c ON c.unique_id = s.unique_id"
        )
    ).one()
    staged = conn.execute(text("SELECT count(*) FROM stage_calls")).scalar_one()
    matched, same_enterprise = int(existing[0]), int(existing[1])
    _execute(
        conn,
        "INSERT INTO stage_owned (call_id) SELECT c.id FROM stage_calls s JOIN calls c"
        " ON c.unique_id = s.unique_id AND c.enterprise_id = s.enterprise_id"
        " AND c.data_source = s.data_source",
        params,
    )
    assignments = ", ".join(
        f"{name} = CASE WHEN calls.data_source = excluded.data_source THEN excluded.{name}"
        f" ELSE coalesce(calls.{name}, excluded.{name}) END"
        for name in _CALL_FIELDS
    )
    columns = _COLUMNS["stage_calls"]
    _execute(
        conn,
        f"INSERT INTO calls ({columns}) SELECT {columns} FROM stage_calls WHERE true"
        f" ON CONFLICT (unique_id) DO UPDATE SET {assignments}"
        " WHERE calls.enterprise_id = excluded.enterprise_id",
        params,
    )
    return int(staged) - matched, same_enterprise, matched - same_enterprise


def _upsert_participants(conn: Connection, params: dict[str, Any], replace: bool) -> None:
    """Participants of the calls this flow owns; stale ones of recomputed calls are removed."""
    owned = (
        "JOIN calls c ON c.unique_id = p.unique_id AND c.enterprise_id = :ent"
        " AND c.data_source = :ds"
    )
    if replace:
        _execute(
            conn,
            "DELETE FROM call_participants WHERE call_id IN (SELECT call_id FROM stage_owned)"
            " AND NOT EXISTS (SELECT 1 FROM stage_participants p JOIN calls c"
            " ON c.unique_id = p.unique_id WHERE c.id = call_participants.call_id"
            " AND p.extension = call_participants.extension)",
            params,
        )
    _execute(
        conn,
        "INSERT INTO call_participants (call_id, extension, participant_status, ring_order,"
        " dial_start, answer_time, hangup_time)"
        f" SELECT c.id, p.extension, p.participant_status, p.ring_order, p.dial_start,"
        f" p.answer_time, p.hangup_time FROM stage_participants p {owned} WHERE true"
        " ON CONFLICT (call_id, extension) DO UPDATE SET"
        " participant_status = excluded.participant_status, ring_order = excluded.ring_order,"
        " dial_start = excluded.dial_start, answer_time = excluded.answer_time,"
        " hangup_time = excluded.hangup_time",
        params,
    )


def _insert_events(conn: Connection, params: dict[str, Any]) -> int:
    """Staged events into ``call_events``; the first copy of an identity (by source id) wins."""
    return _execute(
        conn,
        "INSERT INTO call_events (call_id, enterprise_id, unique_id, event_type, event_timestamp,"
        " data_source, raw_data, body_hash, source_table, source_id, file_date, delivered, status)"
        " SELECT c.id, :ent, s.unique_id, s.event_type, s.event_timestamp, :ds, s.raw_data,"
        " s.body_hash, :tbl, s.source_id, :fd, s.delivered, s.status"
        " FROM stage_events s LEFT JOIN calls c"
        " ON c.unique_id = s.unique_id AND c.enterprise_id = :ent"
        " WHERE true ORDER BY s.source_id"
        " ON CONFLICT (enterprise_id, unique_id, event_type, body_hash) DO NOTHING",
        params,
    )


def _link_earlier_events(conn: Connection, params: dict[str, Any]) -> None:
    """Events stored before their call existed (SPEC §4.3) get its id now."""
    _execute(
        conn,
        "UPDATE call_events SET call_id = (SELECT c.id FROM calls c"
        " WHERE c.unique_id = call_events.unique_id AND c.enterprise_id = call_events.enterprise_id)"
        " WHERE call_id IS NULL AND enterprise_id = :ent"
        " AND unique_id IN (SELECT unique_id FROM stage_calls)",
        params,
    )


def _save_cursor(conn: Connection, enterprise: str, file_date: date, table: str, last_id: int) -> None:
    insert = dialect_insert(conn)
    now = datetime.now(timezone.utc)
    statement = insert(sync_cursors).values(
        enterprise_id=enterprise, file_date=file_date, source_table=table,
        last_source_id=last_id, updated_at=now,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["enterprise_id", "file_date", "source_table"],
            set_={"last_source_id": statement.excluded.last_source_id, "updated_at": now},
        )
    )


def chunks_of(items: Sequence[SourceRow], size: int) -> Iterator[Sequence[SourceRow]]:
    """Split in-memory rows like the reader does (tests build rows by hand)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]

