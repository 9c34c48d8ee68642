"""A comparable picture of the warehouse content (surrogate ids replaced by natural keys)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def _json_text(engine: Engine, column: str) -> str:
    return f"{column}::text" if engine.dialect.name == "postgresql" else column


def _norm(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value).hex()
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(_norm(v) for v in row) for row in conn.execute(text(sql))]


def snapshot(engine: Engine, with_ids: bool = False) -> dict[str, list[tuple]]:
    """Calls, participants, events, rejects, cursors and missed calls, in a deterministic order."""
    ids = "c.id, " if with_ids else ""
    eids = "e.id, e.call_id, " if with_ids else ""
    times = _time_text(engine)
    return {
        "calls": _rows(
            engine,
            f"SELECT {ids}c.unique_id, c.enterprise_id, c.token, {times('c.start_time')},"
            f" {times('c.end_time')}, c.duration, c.phone_number, c.trunk, c.main_extension,"
            " c.extensions_count, c.call_type, c.call_status, c.is_answered, c.data_source,"
            f" c.asterisk_host, {_json_text(engine, 'c.raw_data')}, c.answered_by,"
            f" {times('c.answered_at')}, c.final_extension, {_json_text(engine, 'c.transfer_chain')},"
            " c.leg_count, c.shape FROM calls c ORDER BY c.enterprise_id, c.unique_id",
        ),
        "legs": _rows(
            engine,
            "SELECT l.enterprise_id, l.unique_id, (SELECT c.unique_id FROM calls c WHERE c.id = l.call_id),"
            " l.role, l.channel, l.call_type, l.call_status, l.phone_number, l.extensions,"
            f" {times('l.start_time')}, {times('l.end_time')}, {_json_text(engine, 'l.raw_data')}, l.link"
            " FROM call_legs l ORDER BY l.enterprise_id, l.unique_id",
        ),
        "participants": _rows(
            engine,
            f"SELECT c.enterprise_id, c.unique_id, p.extension, p.participant_status, p.ring_order,"
            f" {times('p.dial_start')}, {times('p.answer_time')}, {times('p.hangup_time')}, p.talk_order"
            " FROM call_participants p JOIN calls c ON c.id = p.call_id"
            " ORDER BY c.enterprise_id, c.unique_id, p.ring_order",
        ),
        "events": _rows(
            engine,
            f"SELECT {eids}e.enterprise_id, e.unique_id, e.event_type, e.body_hash,"
            f" (SELECT c.unique_id FROM calls c WHERE c.id = e.call_id), {times('e.event_timestamp')},"
            f" e.data_source, {_json_text(engine, 'e.raw_data')}, e.source_table, e.source_id,"
            " e.file_date, e.delivered, e.status FROM call_events e"
            " ORDER BY e.enterprise_id, e.unique_id, e.event_type, e.body_hash",
        ),
        "rejected": _rows(
            engine,
            "SELECT enterprise_id, file_date, source_table, source_id, data_source, event_type,"
            " unique_id, raw_text, reason FROM rejected_events"
            " ORDER BY enterprise_id, file_date, source_table, source_id",
        ),
        "cursors": _rows(
            engine,
            "SELECT enterprise_id, file_date, source_table, last_source_id FROM sync_cursors"
            " ORDER BY enterprise_id, file_date, source_table",
        ),
        # SPEC §4.7: derived from the calls, so equal whenever they are, however rows arrived.
        # The status as every reader shows it (followup.effective_status): an import whose clock
        # was a test's fixed "now" stores 'open' where one at the real clock stores 'expired'.
        "missed": _rows(
            engine,
            f"SELECT m.enterprise_id, c.unique_id, m.phone_number, {times('m.missed_at')},"
            " CASE WHEN m.status = 'open' AND m.expires_at <= CURRENT_TIMESTAMP THEN 'expired'"
            " ELSE m.status END,"
            " (SELECT r.unique_id FROM calls r WHERE r.id = m.resolved_call_id),"
            " m.resolved_by, m.seconds_to_resolution, m.callback_attempts"
            " FROM missed_calls m JOIN calls c ON c.id = m.call_id ORDER BY m.enterprise_id, c.unique_id",
        ),
    }


def _time_text(engine: Engine):  # type: ignore[no-untyped-def]
    """Times as comparable UTC text on both databases."""
    if engine.dialect.name == "postgresql":
        return lambda col: f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
    return lambda col: f"substr({col}, 1, 19)"


def count(engine: Engine, table: str, where: str = "1=1") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one())
