"""One conversation as the warehouse holds it: call, legs, participants and event timeline
(``asterisk-pipeline calls show``)."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from .utc import UtcDateTime

_AT = UtcDateTime()


def _times(sql: str, *names: str) -> Any:
    """``text(sql)`` whose time columns ``names`` read back as aware UTC."""
    return text(sql).columns(**dict.fromkeys(names, _AT))


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
        _times(
            "SELECT enterprise_id, unique_id, link, channel, call_type, call_status, phone_number,"
            " extensions, start_time, end_time FROM call_legs WHERE call_id IS NULL"
            " AND unique_id = :uid" + where, "start_time", "end_time",
        ),
        {"uid": unique_id, "ent": enterprise},
    ).mappings().all()
    return [dict(r) for r in rows]


def call_detail(conn: Connection, call_id: int) -> dict[str, Any]:
    call = dict(conn.execute(
        _times(
            "SELECT id, enterprise_id, unique_id, call_type, call_status, phone_number, trunk,"
            " main_extension, is_answered, answered_by, answered_at, final_extension,"
            " transfer_chain, leg_count, shape, start_time, end_time, duration, data_source,"
            " asterisk_host FROM calls WHERE id = :id", "answered_at", "start_time", "end_time",
        ),
        {"id": call_id},
    ).mappings().one())
    call["transfer_chain"] = _json(call["transfer_chain"]) or []
    call["is_answered"] = bool(call["is_answered"])
    legs = [dict(r) for r in conn.execute(
        _times(
            "SELECT unique_id, role, link, channel, call_type, call_status, phone_number, extensions,"
            " start_time, end_time FROM call_legs WHERE call_id = :id"
            " ORDER BY CASE WHEN role = 'primary' THEN 0 ELSE 1 END, start_time, unique_id",
            "start_time", "end_time",
        ),
        {"id": call_id},
    ).mappings()]
    participants = [dict(r) for r in conn.execute(
        _times(
            "SELECT extension, participant_status, ring_order, talk_order, dial_start,"
            " answer_time, hangup_time FROM call_participants WHERE call_id = :id"
            " ORDER BY ring_order", "dial_start", "answer_time", "hangup_time",
        ),
        {"id": call_id},
    ).mappings()]
    raw = "raw_data::text" if conn.dialect.name == "postgresql" else "raw_data"
    rows = conn.execute(
        _times(
            f"SELECT unique_id, event_type, body_hash, event_timestamp, source_table, source_id, {raw} AS body"
            " FROM call_events WHERE call_id = :id ORDER BY event_timestamp, file_date, source_id",
            "event_timestamp",
        ),
        {"id": call_id},
    ).mappings()
    events = _timeline([{**r, "body": _json(r["body"])} for r in rows], _sighted_in(conn, call_id))
    return {"call": call, "legs": legs, "participants": participants, "timeline": events}


#: A body key only AlternativeAPIlogs writes (SPEC §2.2: absent from APIlogs ``bridge`` bodies): the
#: same event seen by both flows differs by it alone, so it is stored as two events.
_LIVE_ONLY_KEYS = frozenset({"BridgeUniqueid"})


def _sighted_in(conn: Connection, call_id: int) -> dict[tuple[str, str, bytes], list[str]]:
    """The source tables each of the call's events was read from (its own row's, and its other
    sightings', SPEC §4.3)."""
    tables: dict[tuple[str, str, bytes], list[str]] = {}
    for uid, kind, digest, table in conn.execute(
        text(
            "SELECT DISTINCT unique_id, event_type, body_hash, source_table FROM ("
            "SELECT e.unique_id, e.event_type, e.body_hash, e.source_table FROM call_events e"
            " WHERE e.call_id = :id UNION ALL"
            " SELECT s.unique_id, s.event_type, s.body_hash, s.source_table FROM event_sightings s"
            " JOIN call_events e ON e.enterprise_id = s.enterprise_id AND e.unique_id = s.unique_id"
            " AND e.event_type = s.event_type AND e.body_hash = s.body_hash"
            " WHERE e.call_id = :id) AS sighted ORDER BY source_table"
        ),
        {"id": call_id},
    ):
        tables.setdefault((uid, kind, bytes(digest)), []).append(table)
    return tables


def _timeline(rows: list[dict[str, Any]], sighted_in: dict[tuple[str, str, bytes], list[str]]) -> list[dict[str, Any]]:
    """One entry per event, in time order: an event both flows stored (its APIlogs body lacks
    only the keys AlternativeAPIlogs adds) is shown once, from the fuller body, with ``tables``
    naming every table it was seen in. Two bodies with different values of such a key stay two."""
    entries: list[dict[str, Any]] = []
    alike: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        body = r["body"] if isinstance(r["body"], dict) else {}
        key = (r["event_timestamp"], r["unique_id"], r["event_type"],
               json.dumps({k: v for k, v in body.items() if k not in _LIVE_ONLY_KEYS}, sort_keys=True))
        source = f"{r['source_table']}#{r['source_id']}"
        entry = next((e for e in alike.get(key, []) if _same_event(e["body"], body)), None)
        if entry is None:
            entry = {"at": r["event_timestamp"], "unique_id": r["unique_id"], "event": r["event_type"],
                     "source": source, "tables": [], "body": body}
            alike.setdefault(key, []).append(entry)
            entries.append(entry)
        elif len(body) > len(entry["body"]):  # the fuller sighting names the event
            entry["body"], entry["source"] = body, source
        for table in sighted_in.get((r["unique_id"], r["event_type"], bytes(r["body_hash"])), [r["source_table"]]):
            if table not in entry["tables"]:
                entry["tables"].append(table)
    for entry in entries:
        entry["what"] = describe(entry["event"], entry.pop("body"))
        entry["tables"].sort()
    return entries


def _same_event(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Bodies alike but for the live-only keys: one event unless both carry such a key, differently."""
    return all(one[k] == other[k] for k in _LIVE_ONLY_KEYS if k in one and k in other)


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
