"""Idempotent loading of one file and flow (SPEC §4.3), inside the caller's transaction.

Shape of one import, all in one transaction:

1. stream rows above the cursor → ``classify_row``; events go chunk by chunk into
   ``call_events`` (``ON CONFLICT DO NOTHING`` on the identity, first source id wins) carrying
   the id of their existing or reserved call; rejects are staged; only the small evidence calls
   are built from stays in memory;
2. add the evidence earlier imports stored for the same UniqueIds, so a hangup that arrives in
   a later batch still sees its dials and bridges;
3. build calls and participants (pure) and upsert them: new calls are inserted with their
   reserved ids, calls this flow owns are recomputed, other flows' calls only get NULLs filled;
4. settle reserved ids that got no call, link earlier unlinked events of the new calls, store
   rejects, advance the cursor.

A kill at any point rolls everything back, so a re-run starts from the same cursor.
"""
from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, bindparam, select, text

from ..model import LIVE_TABLE, Call, CallEvidence, Enterprise, Event, Flow, Participant, Rejected, SourceRow
from ..normalize import add_event_evidence, add_evidence, build_call, classify_row, live_call_wanted
from .events import CallIds, ChunkPipeline, EventRow, EventWriter
from .schema import sync_cursors
from .sql import execute
from .staging import COLUMNS, Stager
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


def read_cursor(conn: Connection, enterprise: str, file_date: date, table: str) -> int:
    value = conn.execute(
        select(sync_cursors.c.last_source_id).where(
            sync_cursors.c.enterprise_id == enterprise,
            sync_cursors.c.file_date == file_date,
            sync_cursors.c.source_table == table,
        )
    ).scalar()
    return int(value or 0)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC rescans every live object as evidence grows (a third of parse time);
    nothing built during an import forms cycles, so it waits until the import is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_rows(conn: Connection, request: ImportRequest, rows: RowSource) -> ImportCounts:
    """Import the rows of one file and flow above the cursor; the caller owns the transaction."""
    enterprise = request.enterprise.number
    table = request.flow.table
    params = {"ent": enterprise, "ds": request.flow.data_source, "tbl": table, "fd": request.file_date}
    _lock_enterprise(conn, enterprise)
    cursor_before = read_cursor(conn, enterprise, request.file_date, table)
    start_after = 0 if request.force else cursor_before
    stager = Stager(conn)
    call_ids = CallIds(conn, enterprise)
    writer = EventWriter(
        stager, call_ids, enterprise, request.flow.data_source, table, request.file_date
    )

    with _gc_paused():
        pipeline = ChunkPipeline(writer.write, threaded=stager.dialect == "postgresql")
        try:
            evidence, rows_read, events_read, rejected, last_id = _read(
                rows, start_after, request, pipeline, stager
            )
            pipeline.close()
        except BaseException:
            pipeline.abort()
            raise
        new_calls, updated_calls, conflicts = _write_calls(
            conn, stager, request, evidence, call_ids, params, start_after
        )
    del evidence
    _link_earlier_events(conn, params)
    execute(
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
        new_events=writer.new_events,
        duplicates=events_read - writer.new_events,
        rejected=rejected,
        conflicts=conflicts,
        cursor_before=cursor_before,
        cursor_after=cursor_after,
    )


def _lock_enterprise(conn: Connection, enterprise: str) -> None:
    """One import per enterprise at a time on PostgreSQL (SQLite's IMMEDIATE transaction
    already serializes writers): events are deduplicated before they are COPYed, and call ids
    reserved, on the premise that nobody else writes this enterprise's rows meanwhile."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"asterisk-pipeline:import:{enterprise}"},
        )


def _read(
    rows: RowSource, start_after: int, request: ImportRequest, pipeline: ChunkPipeline,
    stager: Stager,
) -> tuple[dict[str, CallEvidence], int, int, int, int]:
    """Classify every row above the cursor, hand chunks to the writer, keep the evidence."""
    evidence: dict[str, CallEvidence] = {}
    live_table = request.flow.table == LIVE_TABLE
    rows_read = events_read = rejected = 0
    last_id = start_after
    tz, file_date = request.tz, request.file_date
    for chunk in rows(start_after):
        events: list[EventRow] = []
        rejects: list[Rejected] = []
        for row in chunk:
            outcome = classify_row(row, tz)
            if type(outcome) is Event:
                events.append(outcome[:8])  # Event's fields are EventRow's, then the body
                add_event_evidence(evidence, outcome, file_date, live_table)
            else:
                rejects.append(outcome)  # type: ignore[arg-type]
        if chunk:
            last_id = max(last_id, chunk[-1].id)
        rows_read += len(chunk)
        events_read += len(events)
        rejected += len(rejects)
        pipeline.submit(events, rejects)
    return evidence, rows_read, events_read, rejected, last_id


def _add_stored_evidence(
    conn: Connection, evidence: dict[str, CallEvidence], request: ImportRequest, dialect: str,
    start_after: int,
) -> None:
    """Evidence of earlier imports for the UniqueIds that have a hangup now.

    Rows this import wrote itself (this file and table, above the starting cursor) are
    already in ``evidence``; reading them back would only cost time.
    """
    raw_as_text = "e.raw_data::text" if dialect == "postgresql" else "e.raw_data"
    result = conn.execute(
        text(
            f"SELECT e.unique_id, e.event_type, {raw_as_text}, e.event_timestamp,"
            " e.file_date, e.source_id, e.delivered, e.source_table"
            " FROM call_events e JOIN stage_uids u ON u.unique_id = e.unique_id"
            " WHERE e.enterprise_id = :ent AND e.event_type IN ('hangup', 'dial', 'bridge')"
            " AND NOT (e.file_date = :fd AND e.source_table = :tbl AND e.source_id > :after)"
        ).bindparams(bindparam("fd", type_=Date())),
        {
            "ent": request.enterprise.number,
            "fd": request.file_date,
            "tbl": request.flow.table,
            "after": start_after,
        },
    )
    for uid, event_type, raw, at, file_date, source_id, delivered, table in result:
        add_evidence(
            evidence,
            unique_id=uid,
            event_type=event_type,
            body=json.loads(raw),
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


_CALL_BATCH = 10_000


def _write_calls(
    conn: Connection, stager: Stager, request: ImportRequest, evidence: dict[str, CallEvidence],
    call_ids: CallIds, params: dict[str, Any], start_after: int,
) -> tuple[int, int, int]:
    """Build the calls of every UniqueId with a hangup and write them.

    New calls go straight in with their reserved ids, in batches handed to the writer thread
    while the next batch is built (evidence is released as it is used); calls that already
    exist for this enterprise are recomputed (this flow's) or get their NULLs filled (another
    flow's). Returns (new, updated, conflicts): a conflict is a UniqueId already used by a call
    of another enterprise, left untouched and counted so the operator sees it.
    """
    with_hangup = [uid for uid, known in evidence.items() if known.hangups]
    stager.write("stage_uids", [(uid,) for uid in with_hangup])
    _add_stored_evidence(conn, evidence, request, stager.dialect, start_after)
    call_ids.resolve(set(with_hangup))
    known_ids, reserved = call_ids.known, call_ids.reserved
    live_rule = request.flow is Flow.LIVE

    def write_batch(call_rows: list[tuple[Any, ...]], participant_rows: list[tuple[Any, ...]]) -> None:
        stager.insert("calls", COLUMNS["stage_calls"], call_rows)  # before their participants
        stager.insert("call_participants", COLUMNS["stage_participants"], participant_rows)

    pipeline = ChunkPipeline(write_batch, threaded=stager.dialect == "postgresql")
    with_call: set[str] = set()
    again: list[Call] = []
    again_participants: list[Participant] = []
    conflicts = 0
    call_rows: list[tuple[Any, ...]] = []
    participant_rows: list[tuple[Any, ...]] = []
    try:
        for uid in with_hangup:
            known = evidence.pop(uid)
            if live_rule and not live_call_wanted(known, request.live_import_all):
                continue
            built = build_call(uid, known, request.enterprise, request.tz, request.flow.data_source)
            if built is None:
                continue
            call, participants = built
            if uid in reserved:
                with_call.add(uid)
                call_rows.append(_call_row(call, known_ids, stager))
                participant_rows.extend(_participant_row(p, known_ids, stager) for p in participants)
                if len(call_rows) >= _CALL_BATCH:
                    pipeline.submit(call_rows, participant_rows)
                    call_rows, participant_rows = [], []
            elif known_ids[uid] is None:
                conflicts += 1
            else:
                again.append(call)
                again_participants.extend(participants)
        pipeline.submit(call_rows, participant_rows)
        pipeline.close()
    except BaseException:
        pipeline.abort()
        raise

    orphans = [(uid, cid) for uid, cid in reserved.items() if uid not in with_call]
    if orphans:  # reserved for a UniqueId that got no call (no hangup yet, or delivered live)
        stager.write("stage_reserved", orphans)
        execute(
            conn,
            "UPDATE call_events SET call_id = NULL"
            " WHERE call_id IN (SELECT call_id FROM stage_reserved)",
            params,
        )
    if again:
        _update_calls(conn, stager, again, known_ids, params)
        _update_participants(conn, stager, again_participants, known_ids, params)
    return len(with_call), len(again), conflicts


def _call_row(c: Call, known: dict[str, int | None], stager: Stager) -> tuple[Any, ...]:
    time = stager.time
    return (
        known[c.unique_id], c.unique_id, c.enterprise_id, c.token, time(c.start_time),
        time(c.end_time), c.duration, c.phone_number, c.trunk, c.main_extension,
        c.extensions_count, c.call_type, c.call_status, c.is_answered, c.data_source,
        c.asterisk_host, c.raw_json,
    )


def _participant_row(p: Participant, known: dict[str, int | None], stager: Stager) -> tuple[Any, ...]:
    time = stager.time
    return (
        known[p.unique_id], p.extension, p.participant_status, p.ring_order,
        time(p.dial_start), time(p.answer_time), time(p.hangup_time),
    )


def _update_calls(
    conn: Connection, stager: Stager, calls: list[Call], known: dict[str, int | None],
    params: dict[str, Any],
) -> None:
    stager.write("stage_calls", [_call_row(c, known, stager) for c in calls])
    assignments = ", ".join(
        f"{name} = CASE WHEN calls.data_source = s.data_source THEN s.{name}"
        f" ELSE coalesce(calls.{name}, s.{name}) END"
        for name in _CALL_FIELDS
    )
    execute(
        conn,
        f"UPDATE calls SET {assignments} FROM stage_calls s"
        " WHERE calls.id = s.id AND calls.enterprise_id = s.enterprise_id",
        params,
    )


def _update_participants(
    conn: Connection, stager: Stager, participants: list[Participant],
    known: dict[str, int | None], params: dict[str, Any],
) -> None:
    """Participants of recomputed calls this flow owns: upserted, stale ones removed."""
    stager.write("stage_participants", [_participant_row(p, known, stager) for p in participants])
    owned = "SELECT c.id FROM stage_calls s JOIN calls c ON c.id = s.id AND c.data_source = :ds"
    execute(
        conn,
        f"DELETE FROM call_participants WHERE call_id IN ({owned})"
        " AND NOT EXISTS (SELECT 1 FROM stage_participants p"
        " WHERE p.call_id = call_participants.call_id AND p.extension = call_participants.extension)",
        params,
    )
    execute(
        conn,
        "INSERT INTO call_participants (call_id, extension, participant_status, ring_order,"
        " dial_start, answer_time, hangup_time)"
        " SELECT p.call_id, p.extension, p.participant_status, p.ring_order, p.dial_start,"
        f" p.answer_time, p.hangup_time FROM stage_participants p WHERE p.call_id IN ({owned})"
        " ON CONFLICT (call_id, extension) DO UPDATE SET"
        " participant_status = excluded.participant_status, ring_order = excluded.ring_order,"
        " dial_start = excluded.dial_start, answer_time = excluded.answer_time,"
        " hangup_time = excluded.hangup_time",
        params,
    )


def _link_earlier_events(conn: Connection, params: dict[str, Any]) -> None:
    """Events stored before their call existed (SPEC §4.3) get its id now."""
    execute(
        conn,
        "UPDATE call_events SET call_id = (SELECT c.id FROM calls c"
        " WHERE c.unique_id = call_events.unique_id AND c.enterprise_id = call_events.enterprise_id)"
        " WHERE call_id IS NULL AND enterprise_id = :ent"
        " AND unique_id IN (SELECT unique_id FROM stage_uids)",
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
