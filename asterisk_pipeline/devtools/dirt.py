"""The garbage real Listen_AMI files hold (SPEC §4.1): rows that are no JSON object, bad times,
blank UniqueIds, odd and hostile text, unknown events, huge bodies - seeded, about a chosen share
of all rows."""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, NamedTuple

from . import rows
from .calls import EVENT_TYPES, SimEvent, epoch_of_midnight
from .dialplan import NAMES
from .rows import day_timestamps, encode

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


class Victim(NamedTuple):
    """The call the dirt is attached to: its token, primary UniqueId, outside number and day."""

    tok: str
    uid: str
    phone: str
    day: date

    @property
    def ts(self) -> Sequence[str]:
        return day_timestamps(self.day)


def add_dirt(
    rng: random.Random, events: list[SimEvent], victim: Victim, p: float,
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
            spoiled = _spoil_hangup(rng, final, victim.day)
            continue
        out.append(_DIRTY_MAKERS[kind](rng, ev.second, victim))
    if spoiled is not None:
        out = [spoiled if e is final else e for e in out]
    return out


def _spoil_hangup(rng: random.Random, final: SimEvent, day: date) -> SimEvent:
    """The final hangup with spoiled start times; its EndTime stays valid so it is still the
    chosen hangup and the call's status is unchanged."""
    body = dict(final.body)
    body["DateReceived"] = _bad_time(rng, day)
    if rng.random() < 0.5:
        body.pop("StartTime", None)
    else:
        body["StartTime"] = _bad_time(rng, day)
    return final._replace(body=body, dirty=True)


# One maker per dirty kind: a malformed row attached to the victim at local second ``sec``.

def _null_request(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    return SimEvent(sec, rng.choice(EVENT_TYPES), v.uid if rng.random() < 0.7 else "", None,
                    raw=True, dirty=True)


def _invalid_json(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    tok, uid = v.tok, v.uid
    text = rng.choice((
        f'{{"Token": "{tok}", "UniqueId": "{uid}", "Phone": "3752',
        f"{{'Token': '{tok}', 'UniqueId': '{uid}', 'CallStatus': '2'}}",
        f'{{"Token": "{tok}", "UniqueId": "{uid}",}}',
        "Internal Server Error",
        "",
        f'{{"Token": {tok}, UniqueId: {uid}}}',
    ))
    return SimEvent(sec, rng.choice(("hangup", "dial", "bridge")), uid, text, raw=True, dirty=True)


def _json_list(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    text = rng.choice((encode([rows.body(v.tok, v.uid, CallStatus="2")]), "[]",
                       encode(["hangup", v.uid])))
    return SimEvent(sec, rng.choice(("hangup", "dial")), v.uid, text, raw=True, dirty=True)


def _json_scalar(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    text = rng.choice((encode(f"hangup {v.uid}"), "null", "42", "true", '"ok"'))
    return SimEvent(sec, rng.choice(("hangup", "start")), v.uid, text, raw=True, dirty=True)


def _blank_hangup(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    ts, tok = v.ts, v.tok
    body: dict[str, Any] = rows.body(tok, None, Phone=v.phone, Extensions=[], CallType="0",
        DateReceived=ts[sec], StartTime=ts[sec], EndTime=ts[sec], CallStatus="0")
    if rng.random() < 0.5:
        body = {"Token": tok, "UniqueId": "", **{k: x for k, x in body.items() if k != "Token"}}
    return SimEvent(sec, "hangup", "", body, dirty=True)


def _bad_times(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    body = rows.body(v.tok, v.uid, Phone=v.phone, Extensions=[], CallType="0",
                     CallStatus=rng.choice(("0", "2", "")))
    for key in ("DateReceived", "StartTime"):
        if rng.random() < 0.7:
            body[key] = _bad_time(rng, v.day)
    end = _bad_time(rng, v.day)
    if rng.random() < 0.7:  # EndTime always missing or malformed: never the chosen hangup
        body["EndTime"] = end
    return SimEvent(sec, "hangup", v.uid, body, dirty=True)


def _odd_text(pool: Sequence[str]) -> Callable[[random.Random, int, Victim], SimEvent]:
    def make(rng: random.Random, sec: int, v: Victim) -> SimEvent:
        choice = rng.choice
        return SimEvent(sec, "new_callerid", v.uid, rows.body(v.tok, v.uid,
            Channel=f"SIP/{choice(pool)}-0000beef", CallerIDNum=v.phone, CallerIDName=choice(pool),
            ConnectedLineNum="", ConnectedLineName=choice(pool), Context="from-trunk", Exten="s"),
            dirty=True)
    return make


def _unknown_event(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    return SimEvent(sec, rng.choice(_UNKNOWN_EVENTS), v.uid, rows.body(v.tok, v.uid,
        Variable="QUEUE", Value=rng.choice(NAMES)), dirty=True)


def _uid_mismatch(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    other = f"{epoch_of_midnight(v.day) + sec}.{rng.randint(1, 999_999)}{rng.randint(0, 9)}"
    return SimEvent(sec, "new_callerid", v.uid, rows.body(v.tok, other,
        Channel="Local/s@from-queue-0000abcd;1", CallerIDNum=v.phone, CallerIDName="",
        ConnectedLineNum="", ConnectedLineName="", Context="from-queue", Exten="s"), dirty=True)


def _huge(rng: random.Random, sec: int, v: Victim) -> SimEvent:
    """A ~100 KB body."""
    chunk = "Журнал | trace\tline \"q\"\n"
    return SimEvent(sec, "UserEvent", v.uid, rows.body(v.tok, v.uid, UserEvent="Debug",
        Data=(chunk * (100_000 // len(chunk) + 1))[:100_000]), dirty=True)


_DIRTY_MAKERS: dict[str, Callable[[random.Random, int, Victim], SimEvent]] = {
    "null_request": _null_request, "invalid_json": _invalid_json, "json_list": _json_list,
    "json_scalar": _json_scalar, "blank_hangup": _blank_hangup, "bad_times": _bad_times,
    "weird_chars": _odd_text(_WEIRD_TEXT), "sql": _odd_text(_SQL_TEXT),
    "unknown_event": _unknown_event, "uid_mismatch": _uid_mismatch, "huge": _huge,
}
assert set(_DIRTY_MAKERS) == set(_DIRTY_KINDS)


def dirty_probability(dirty_share: float) -> float:
    """Per clean event probability that yields ``dirty_share`` of all rows."""
    if not 0.0 <= dirty_share < 1.0:
        raise ValueError("dirty_share must be in [0, 1)")
    return dirty_share / (1.0 - dirty_share)
