"""The operator's answer for each call, read from the warehouse (the `expected` of the examples)."""
from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

DIRECTIONS = {"0": "incoming", "1": "outgoing", "2": "internal"}
MINSK = ZoneInfo("Europe/Minsk")


def _local(value: Any) -> str | None:
    from datetime import datetime

    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(MINSK).strftime("%Y-%m-%d %H:%M:%S")


def _uid_key(uid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in uid.split(".")) if uid.replace(".", "").isdigit() else (1 << 62,)


def conversations(engine: Engine, enterprise: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        calls = conn.execute(text(
            "SELECT id, unique_id, call_type, phone_number, is_answered, answered_by,"
            " final_extension, transfer_chain, start_time, end_time, duration, leg_count"
            " FROM calls WHERE enterprise_id = :e ORDER BY start_time, unique_id"
        ), {"e": enterprise}).all()
        out = []
        for call in calls:
            rang = conn.execute(text(
                "SELECT extension FROM call_participants WHERE call_id = :c ORDER BY ring_order"
            ), {"c": call.id}).scalars().all()
            legs = conn.execute(text(
                "SELECT unique_id, role FROM call_legs WHERE call_id = :c"
            ), {"c": call.id}).all()
            primary = [u for u, role in legs if role == "primary"]
            others = sorted((u for u, role in legs if role != "primary"), key=_uid_key)
            chain = call.transfer_chain
            out.append({
                "direction": DIRECTIONS.get(call.call_type, call.call_type),
                "external_number": call.phone_number,
                "answered": bool(call.is_answered),
                "first_answered": call.answered_by,
                "last_talking": call.final_extension,
                "transfer_chain": json.loads(chain) if isinstance(chain, str) else chain,
                "rang": list(rang),
                "start": _local(call.start_time),
                "end": _local(call.end_time),
                "duration": call.duration,
                "legs": primary + others,
                "leg_count": call.leg_count,
            })
    return out
