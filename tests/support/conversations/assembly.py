"""Hand-built rows through SPEC §4.2–4.4 assembly, no database (tests/conversations)."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from asterisk_pipeline.conversations import Conversation, assemble, conv_row
from asterisk_pipeline.model import Enterprise, Event, SourceRow
from asterisk_pipeline.normalize import classify_row
from tests.support.conversations import shapes

MINSK = ZoneInfo("Europe/Minsk")
ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
DAY = date(2025, 7, 3)


def assemble_rows(rows: list[shapes.Row], day: date = DAY, first_id: int = 1,
                  explain: bool = False) -> list[Conversation]:
    conv_rows = []
    for i, (at, event, uid, request, status) in enumerate(rows, start=first_id):
        ev = classify_row(SourceRow(i, at, event, uid, request, status), MINSK)
        assert isinstance(ev, Event)
        seen = conv_row(ev, (day, i), False)
        if seen is not None:
            conv_rows.append(seen)
    return assemble(conv_rows, ENT, MINSK, "downloaded", explain=explain)


def calls_of(conversations: list[Conversation]) -> dict[str, Conversation]:
    return {c.primary: c for c in conversations if c.call is not None}
