"""One conversation as the warehouse holds it: call, legs, participants and event timeline
(``asterisk-pipeline calls show``)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def find_calls(conn: Connection, unique_id: str, enterprise: str | None) -> list[dict[str, Any]]:
    """The calls a UniqueId belongs to (as primary or leg), optionally of one enterprise."""
    where = " AND l.enterprise_id = :ent" if enterprise else ""
    rows = conn.execute(
        text(
            "SELECT DISTINCT c.id, c.enterprise_id, c.unique_id FROM call_legs l"
            " JOIN calls c ON c.id = l.call_id WHERE l.unique_id = :uid" + where
            + " ORDER BY c.enterprise_id"
        ),
        {"uid": unique_id, "ent": enterprise},
    ).all()
    return [{"id": int(r.id), "enterprise_id": r.enterprise_id, "unique_id": r.unique_id} for r in rows]


def unlinked_leg(conn: Connection, unique_id: str, enterprise: str | None) -> list[dict[str, Any]]:
    """A forwarding leg stored without a call (SPEC §4.2 rule 3)."""
    where = " AND enterprise_id = :ent" if enterprise else ""
    rows = conn.execute(
        text(
            "SELECT enterprise_id, unique_id, link, channel, call_type, call_status, phone_number,"
            " extensions, start_time, end_time FROM call_legs WHERE call_id IS NULL"
            " AND unique_id = :uid" + where
        ),
        {"uid": unique_id, "ent": enterprise},
    ).mappings().all()
    return [_leg(dict(r)) for r in rows]


def _leg(row: dict[str, Any]) -> dict[str, Any]:
    row["start_time"], row["end_time"] = _utc(row.get("start_time")), _utc(row.get("end_time"))
    return row


def call_detail(conn: Connection, call_id: int) -> dict[str, Any]:
    call = dict(conn.execute(
        text(
            "SELECT id, enterprise_id, unique_id, call_type, call_status, phone_number, trunk,"
            " main_extension, is_answered, answered_by, answered_at, final_extension,"
            " transfer_chain, leg_count, shape, start_time, end_time, duration, data_source,"
            " asterisk_host FROM calls WHERE id = :id"
        ),
        {"id": call_id},
    ).mappings().one())
    for key in ("answered_at", "start_time", "end_time"):
        call[key] = _utc(call[key])
    call["transfer_chain"] = _json(call["transfer_chain"]) or []
    call["is_answered"] = bool(call["is_answered"])
    legs = [_leg(dict(r)) for r in conn.execute(
        text(
            "SELECT unique_id, role, link, channel, call_type, call_status, phone_number, extensions,"
            " start_time, end_time FROM call_legs WHERE call_id = :id"
            " ORDER BY CASE WHEN role = 'primary' THEN 0 ELSE 1 END, start_time, unique_id"
        ),
        {"id": call_id},
    ).mappings()]
    participants = []
    for r in conn.execute(
        text(
            "SELECT extension, participant_status, ring_order, talk_order, dial_start,"
            " answer_time, hangup_time FROM call_participants WHERE call_id = :id"
            " ORDER BY ring_order"
        ),
        {"id": call_id},
    ).mappings():
        item = dict(r)
        for key in ("dial_start", "answer_time", "hangup_time"):
            item[key] = _utc(item[key])
        participants.append(item)
    raw = "raw_data::text" if conn.dialect.name == "postgresql" else "raw_data"
    events = []
    for r in conn.execute(
        text(
            f"SELECT unique_id, event_type, event_timestamp, source_table, source_id, {raw} AS body"
            " FROM call_events WHERE call_id = :id ORDER BY event_timestamp, file_date, source_id"
        ),
        {"id": call_id},
    ).mappings():
        events.append({
            "at": _utc(r["event_timestamp"]), "unique_id": r["unique_id"], "event": r["event_type"],
            "source": f"{r['source_table']}#{r['source_id']}", "what": describe(r["event_type"], _json(r["body"])),
        })
    return {"call": call, "legs": legs, "participants": participants, "timeline": events}


def describe(event: str, body: dict[str, Any]) -> str:
    """One line an operator reads: who rang, who entered or left a bridge, how it ended."""
    get = body.get
    if event == "start":
        return f"call from {get('Phone')!s} on trunk {get('Trunk')!s}"
    if event == "dial":
        targets = get("Extensions")
        shown = ", ".join(targets) if isinstance(targets, list) else str(targets)
        return f"rings {shown or '-'} (CallType {get('CallType')!s})"
    if event in ("bridge", "bridge_leave"):
        verb = "enters" if event == "bridge" else "leaves"
        bridge = get("BridgeUniqueid")
        where = f" bridge {bridge[:8]}" if isinstance(bridge, str) and bridge else " a bridge"
        return f"{get('Channel')!s} ({get('CallerIDNum')!s}) {verb}{where}, connected to {get('ConnectedLineNum')!s}"
    if event == "new_callerid":
        return f"{get('Channel')!s}: caller id {get('CallerIDNum')!s}, connected to {get('ConnectedLineNum')!s}"
    if event == "hangup":
        return (
            f"hangup: CallType {get('CallType')!s}, CallStatus {get('CallStatus')!s}, Phone {get('Phone')!s},"
            f" Extensions {get('Extensions')!s}, {get('StartTime') or get('DateReceived')!s} → {get('EndTime')!s}"
        )
    return event
