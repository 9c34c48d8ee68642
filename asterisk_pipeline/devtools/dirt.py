"""The garbage real Listen_AMI files hold (SPEC §4.1): rows that are no JSON object, bad times,
blank UniqueIds, odd and hostile text, unknown events, huge bodies - seeded, about a chosen share
of all rows."""
from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from typing import Any

from . import rows
from .calls import EVENT_TYPES, SimEvent, epoch_of_midnight
from .dialplan import NAMES
from .rows import encode

_BAD_TIMES: tuple[Any, ...] = (
    "2025-13-45 99:99:99", "yesterday", "", "2025/01/02 10:00:00", "10:00:00",
    "{day}T10:00:00", "{day} 25:61:00", "0000-00-00 00:00:00", 1735689600, None,
)
_UNKNOWN_EVENTS = ("UserEvent", "hold", "unhold", "transfer", "queue_leave", "VarSet", "")
_WEIRD_TEXT = (
    'Иван | "Вася"\tПетров\nвторая строка',
    "a|b|c\r\n\t'quoted' \"double\" \\ backslash",
    "Ёлка; ключ=значение | pipe\ttab\nnewline",
)
_SQL_TEXT = (
    "'); DROP TABLE calls;--",
    "Robert'); DROP TABLE call_events;--",
    "x' OR '1'='1",
    "1; DELETE FROM download_sync WHERE 1=1; --",
)
_DIRTY_KINDS = (
    "null_request", "invalid_json", "json_list", "json_scalar", "blank_hangup", "bad_times",
    "weird_chars", "sql", "unknown_event", "uid_mismatch", "huge",
)
_DIRTY_WEIGHTS = (10, 15, 8, 7, 10, 15, 12, 8, 12, 3, 0.25)


def _bad_time(rng: random.Random, day: date) -> Any:
    value = rng.choice(_BAD_TIMES)
    return value.format(day=day.isoformat()) if isinstance(value, str) else value


def add_dirt(
    rng: random.Random, events: list[SimEvent], tok: str, uid: str, phone: str,
    ts: Sequence[str], day: date, p: float,
) -> list[SimEvent]:
    """Insert malformed rows after about ``p`` of the call's events (and maybe spoil its hangup)."""
    out: list[SimEvent] = []
    final = events[-1]  # the final hangup
    spoiled: SimEvent | None = None
    for ev in events:
        out.append(ev)
        if rng.random() >= p:
            continue
        kind = rng.choices(_DIRTY_KINDS, _DIRTY_WEIGHTS)[0]
        if kind == "bad_times" and spoiled is None and rng.random() < 0.5:
            # Spoil the final hangup's start times in place; its EndTime stays valid so it is
            # still the chosen hangup and the call's status is unchanged.
            body = dict(final.body)
            body["DateReceived"] = _bad_time(rng, day)
            if rng.random() < 0.5:
                body.pop("StartTime", None)
            else:
                body["StartTime"] = _bad_time(rng, day)
            spoiled = final._replace(body=body, dirty=True)
            continue
        out.append(_dirty_event(rng, kind, ev.second, tok, uid, phone, ts, day))
    if spoiled is not None:
        out = [spoiled if e is final else e for e in out]
    return out


def _dirty_event(
    rng: random.Random, kind: str, sec: int, tok: str, uid: str, phone: str,
    ts: Sequence[str], day: date,
) -> SimEvent:
    """One malformed row of the given kind, attached to call ``uid`` at local second ``sec``."""
    choice = rng.choice
    if kind == "null_request":
        return SimEvent(sec, choice(EVENT_TYPES), uid if rng.random() < 0.7 else "", None,
                        raw=True, dirty=True)
    if kind == "invalid_json":
        text = choice((
            f'{{"Token": "{tok}", "UniqueId": "{uid}", "Phone": "3752',
            f"{{'Token': '{tok}', 'UniqueId': '{uid}', 'CallStatus': '2'}}",
            f'{{"Token": "{tok}", "UniqueId": "{uid}",}}',
            "Internal Server Error",
            "",
            f'{{"Token": {tok}, UniqueId: {uid}}}',
        ))
        return SimEvent(sec, choice(("hangup", "dial", "bridge")), uid, text, raw=True, dirty=True)
    if kind == "json_list":
        text = choice((encode([rows.body(tok, uid, CallStatus="2")]), "[]",
                       encode(["hangup", uid])))
        return SimEvent(sec, choice(("hangup", "dial")), uid, text, raw=True, dirty=True)
    if kind == "json_scalar":
        text = choice((encode(f"hangup {uid}"), "null", "42", "true", '"ok"'))
        return SimEvent(sec, choice(("hangup", "start")), uid, text, raw=True, dirty=True)
    if kind == "blank_hangup":
        body: dict[str, Any] = rows.body(tok, None, Phone=phone, Extensions=[], CallType="0",
            DateReceived=ts[sec], StartTime=ts[sec], EndTime=ts[sec], CallStatus="0")
        if rng.random() < 0.5:
            body = {"Token": tok, "UniqueId": "", **{k: v for k, v in body.items() if k != "Token"}}
        return SimEvent(sec, "hangup", "", body, dirty=True)
    if kind == "bad_times":
        body = rows.body(tok, uid, Phone=phone, Extensions=[], CallType="0",
                         CallStatus=choice(("0", "2", "")))
        for key in ("DateReceived", "StartTime"):
            if rng.random() < 0.7:
                body[key] = _bad_time(rng, day)
        end = _bad_time(rng, day)
        if rng.random() < 0.7:  # EndTime always missing or malformed: never the chosen hangup
            body["EndTime"] = end
        return SimEvent(sec, "hangup", uid, body, dirty=True)
    if kind in ("weird_chars", "sql"):
        pool = _WEIRD_TEXT if kind == "weird_chars" else _SQL_TEXT
        return SimEvent(sec, "new_callerid", uid, rows.body(tok, uid,
            Channel=f"SIP/{choice(pool)}-0000beef", CallerIDNum=phone, CallerIDName=choice(pool),
            ConnectedLineNum="", ConnectedLineName=choice(pool), Context="from-trunk", Exten="s"),
            dirty=True)
    if kind == "unknown_event":
        return SimEvent(sec, choice(_UNKNOWN_EVENTS), uid, rows.body(tok, uid, Variable="QUEUE",
            Value=choice(NAMES)),
            dirty=True)
    if kind == "uid_mismatch":
        other = f"{epoch_of_midnight(day) + sec}.{rng.randint(1, 999_999)}{rng.randint(0, 9)}"
        return SimEvent(sec, "new_callerid", uid, rows.body(tok, other,
            Channel="Local/s@from-queue-0000abcd;1", CallerIDNum=phone, CallerIDName="",
            ConnectedLineNum="", ConnectedLineName="", Context="from-queue", Exten="s"), dirty=True)
    # huge: a ~100 KB body
    chunk = "Журнал | trace\tline \"q\"\n"
    return SimEvent(sec, "UserEvent", uid, rows.body(tok, uid, UserEvent="Debug",
        Data=(chunk * (100_000 // len(chunk) + 1))[:100_000]), dirty=True)


def dirty_probability(dirty_share: float) -> float:
    """Per clean event probability that yields ``dirty_share`` of all rows."""
    if not 0.0 <= dirty_share < 1.0:
        raise ValueError("dirty_share must be in [0, 1)")
    return dirty_share / (1.0 - dirty_share)
