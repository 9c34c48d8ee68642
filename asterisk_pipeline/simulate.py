"""Realistic, deliberately dirty ``Listen_AMI_YYYY-MM-DD.db`` files (SPEC §2), seeded.

Why: tests, the demo and the benchmarks need PBX files that look like the real ones - same table
shapes, same event sequences, the same encoding zoo and the same garbage - without a PBX. Every
function here is a pure function of its arguments (and, for the append helpers, of the file's
current content): one ``random.Random`` seeded from the arguments, never the global generator,
never the wall clock.

Two writers:

* :func:`write_day_file` builds a whole day in one transaction (fast path for fixtures and
  benchmarks: 110,000 calls, ~0.9 M APIlogs rows and ~2.1 M rows in all, in about 16 s).
* :func:`append_calls` / :func:`append_events` / :func:`append_rows` add rows to an existing file
  the way the real listener does - one INSERT and one COMMIT per row, rollback journal - so that
  readers can be tested against a file that is being written.

Only the Python standard library is used.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import random
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "ALL_API_TABLES",
    "ANSWERED_SHARE",
    "AppendResult",
    "DayFileSummary",
    "EVENT_TYPES",
    "PBX_UTC_OFFSET",
    "SimCall",
    "SimEvent",
    "append_calls",
    "append_events",
    "append_rows",
    "day_file_path",
    "plan_calls",
    "simulate_fleet",
    "token_for",
    "write_day_file",
]

#: The three webhook-log tables of a Listen_AMI file (the third one is ignored by the pipeline).
ALL_API_TABLES: tuple[str, ...] = ("APIlogs", "AlternativeAPIlogs", "Alternative2APIlogs")
#: Every event type of SPEC §2.2, in the order they occur within a call.
EVENT_TYPES: tuple[str, ...] = (
    "start", "dial", "new_callerid", "bridge_create", "bridge", "bridge_leave", "bridge_destroy",
    "hangup",
)
#: Share of calls whose final hangup says CallStatus "2" (the seed's headline figure is ~37%).
ANSWERED_SHARE = 0.37
#: PBX local time is Europe/Minsk, a fixed UTC+3 since 2011: UniqueId epochs are derived with it.
PBX_UTC_OFFSET = timedelta(hours=3)

_LAST_SECOND = 86_399
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_API_DDL = (
    "CREATE TABLE {name} (id INTEGER PRIMARY KEY, DateTime, event, Uniqueid, request, status, "
    "response, responseTime)"
)
_OTHER_DDL = {
    "ScriptEvents": (
        "CREATE TABLE ScriptEvents (id INTEGER PRIMARY KEY, DateTime, script, level, message)"
    ),
    "AMIEventLog": (
        "CREATE TABLE AMIEventLog (id INTEGER PRIMARY KEY, DateTime, Event, Uniqueid, Data)"
    ),
}
_INSERT = (
    "INSERT INTO {name} (DateTime, event, Uniqueid, request, status, response, responseTime) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# One encoder for the hot path: identical output to json.dumps(obj, ensure_ascii=False) without
# building a new encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode

_NAMES = (
    "Иванов Иван", "Петрова Анна", "Бухгалтерия", "Отдел продаж", "Склад", "Директор",
    "Reception", "John Smith", "Менеджер Ольга", "", "Support", "Сервисный центр",
)
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
_UNDELIVERED = (
    ("<Response [500]>", "Internal Server Error", 0.25),
    ("<Response [502]>", "Bad Gateway", 0.30),
    ("<Response [404]>", '{"detail":"Not Found"}', 0.33),
    ("Timeout", "", 0.53),
    (
        "ConnectionError(MaxRetryError(\"HTTPConnectionPool(host='10.88.10.19', port=8001): Max "
        "retries exceeded with url: /webhook (Caused by NewConnectionError('<urllib3.connection."
        "HTTPConnection object>: Failed to establish a new connection: [Errno 111] Connection "
        "refused'))\"))",
        "",
        0.73,
    ),
    ("''", "", 0.86),
    ("Error 503: Service Unavailable", "", 0.92),
    ("Error: [Errno 104] Connection reset by peer", "", 0.96),
    (None, "", 1.01),
)
#: Probability that a failed delivery is followed by a retry row (status "''", body re-serialized).
_RETRY_SHARE = 0.5


class SimEvent(NamedTuple):
    """One event as the listener would log it; one or two source rows per table (with a retry).

    ``body`` is a dict (serialized with ``json.dumps(..., ensure_ascii=False)``) unless ``raw``,
    in which case it is the literal ``request`` text (``None`` = SQL NULL). ``alt_extra`` holds keys
    only the Alternative tables' body has (``BridgeUniqueid`` of ``bridge``).
    """

    second: int  # seconds since the PBX's local midnight of the file's day
    event: str
    uniqueid: str
    body: Any
    alt_extra: dict[str, Any] | None = None
    raw: bool = False
    dirty: bool = False


@dataclass(frozen=True)
class SimCall:
    """A generated call with all its events (also those not written yet), for split writes."""

    unique_id: str
    day: date
    call_type: int
    call_status: str
    answered: bool
    start_second: int
    end_second: int
    extensions: tuple[str, ...]  # the final hangup's Extensions, normalized (SPEC §2.2)
    events: tuple[SimEvent, ...] = field(repr=False)

    @property
    def start_local(self) -> datetime:
        """PBX local start time (naive)."""
        midnight = datetime.combine(self.day, datetime.min.time())
        return midnight + timedelta(seconds=self.start_second)

    @property
    def end_local(self) -> datetime:
        """PBX local end time (naive), the final hangup's EndTime."""
        return datetime.combine(self.day, datetime.min.time()) + timedelta(seconds=self.end_second)


@dataclass(frozen=True)
class DayFileSummary:
    """What :func:`write_day_file` wrote, so tests can check the pipeline's figures against it."""

    path: Path
    enterprise: str
    day: date
    calls: int  # calls generated (distinct UniqueIds with a hangup)
    answered: int  # calls whose final hangup has CallStatus "2"
    rows: dict[str, int]  # rows written per table name
    dirty_rows: int  # rows deliberately malformed (all tables)


class AppendResult(int):
    """Total rows appended over all tables (an ``int``), with the details as attributes.

    ``per_table`` - rows per table name; ``calls`` - the calls involved (write their remaining
    events later with :func:`append_events`); ``dirty_rows`` - malformed rows among them.
    """

    per_table: dict[str, int]
    calls: tuple[SimCall, ...]
    dirty_rows: int

    def __new__(
        cls, per_table: dict[str, int], calls: Sequence[SimCall], dirty_rows: int
    ) -> AppendResult:
        obj = super().__new__(cls, sum(per_table.values()))
        obj.per_table = dict(per_table)
        obj.calls = tuple(calls)
        obj.dirty_rows = dirty_rows
        return obj


# --------------------------------------------------------------------------------------------
# small helpers


def day_file_path(root: Path, enterprise: str, day: date) -> Path:
    """Where the fleet layout keeps a day: ``root/<enterprise>/Listen_AMI_<day>.db``."""
    return Path(root) / enterprise / f"Listen_AMI_{day.isoformat()}.db"


def token_for(enterprise: str) -> str:
    """The PBX ``Token`` of an enterprise number: stable digit string (``'0327'`` -> ``'100327'``).

    Non-numeric names get a 10-digit hash-derived token, which cannot clash with numeric ones.
    """
    if enterprise.isascii() and enterprise.isdigit():
        return str(100_000 + int(enterprise))
    digest = hashlib.sha256(enterprise.encode("utf-8")).digest()
    return str(1_000_000_000 + int.from_bytes(digest[:8], "big") % 9_000_000_000)


@lru_cache(maxsize=16)
def _timestamps(day: date) -> tuple[str, ...]:
    """All 86,400 ``'YYYY-MM-DD HH:MM:SS'`` strings of a day (formatting is the hot spot)."""
    prefix = day.isoformat() + " "
    return tuple(
        f"{prefix}{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
    )


def _epoch_of_midnight(day: date) -> int:
    """Unix time of the PBX's local midnight (UTC+3)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 86_400 - int(PBX_UTC_OFFSET.total_seconds())


def _norm_exts(value: Any) -> tuple[str, ...]:
    """SPEC §2.2 Extensions normalization (used for SimCall.extensions)."""
    items = value.split("&") if isinstance(value, str) else value
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


class _Pbx(NamedTuple):
    token: str
    extensions: tuple[str, ...]
    trunks: tuple[str, ...]
    dids: tuple[str, ...]


@lru_cache(maxsize=256)
def _pbx(token: str) -> _Pbx:
    """The enterprise's dial plan: stable per token, independent of seed and day."""
    rng = random.Random(f"pbx|{token}")
    base = rng.choice((100, 200, 300, 500, 1000))
    count = rng.randint(6, 40)
    exts = tuple(str(base + i) for i in rng.sample(range(1, 99), count))
    trunks = tuple(
        rng.choice((f"{rng.randint(1, 9999999):07d}", f"trunk{i}", f"mts_{token[-3:]}", "a1_sip"))
        for i in range(rng.randint(1, 4))
    )
    dids = tuple(f"375{rng.choice(('17', '29', '33', '44'))}{rng.randint(1_000_000, 9_999_999)}"
                 for _ in range(len(trunks)))
    return _Pbx(token, exts, tuple(dict.fromkeys(trunks)), dids)


def _external_phone(rng: random.Random) -> str:
    code = rng.choice(("29", "33", "44", "25", "17"))
    num = rng.randint(1_000_000, 9_999_999)
    form = rng.random()
    if form < 0.6:
        return f"+375{code}{num}"
    if form < 0.85:
        return f"375{code}{num}"
    return f"80{code}{num}"


def _encode_exts(rng: random.Random, exts: Sequence[str]) -> Any:
    """One of the Extensions encodings seen in real data; normalizes back to ``exts``."""
    if not exts:
        return [] if rng.random() < 0.5 else [""]
    x = rng.random()
    if x < 0.07:
        return "&".join(exts)
    if x < 0.09:
        return [f" {exts[0]} ", *exts[1:]]
    if x < 0.11:
        return [*exts, ""]
    if x < 0.12:
        return [*exts, exts[0]]
    return list(exts)


def _bridge_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --------------------------------------------------------------------------------------------
# call generation


def _build_call(
    rng: random.Random, pbx: _Pbx, day: date, ts: Sequence[str], s0: int, seq: int,
    dirty_p: float,
) -> SimCall:
    """All events of one call starting at local second ``s0``, time-ordered, plus dirty extras."""
    r = rng.random
    randint = rng.randint
    tok = pbx.token
    uid = f"{_epoch_of_midnight(day) + s0}.{seq}"
    exts = pbx.extensions

    x = r()
    ct = 0 if x < 0.6 else (1 if x < 0.9 else 2)
    ct_val: Any = ct if r() < 0.5 else str(ct)
    answered = r() < ANSWERED_SHARE
    if answered:
        status = "2"
    else:
        y = r()
        status = "0" if y < 0.8 else ("1" if y < 0.88 else ("5" if y < 0.92 else ""))

    trunk: str | None
    if ct == 0:
        y = r()
        odd_phones = ("", "<unknown>", "Anonymous")
        phone = _external_phone(rng) if y < 0.9 else odd_phones[int(y * 1000) % 3]
        trunk = rng.choice(pbx.trunks)
        groups = 1 if r() < 0.4 else (2 if r() < 0.6 else 3)
        dials = [rng.sample(exts, min(len(exts), randint(1, 3))) for _ in range(groups)]
        answerer = rng.choice(dials[-1])
        exten = rng.choice(pbx.dids)
        context = "from-trunk"
    elif ct == 1:
        answerer = rng.choice(exts)
        phone = _external_phone(rng)
        trunk = rng.choice(pbx.trunks)
        dials = [[answerer]]
        exten = phone
        context = "from-internal"
    else:
        caller, answerer = rng.sample(exts, 2)
        phone = caller
        trunk = None
        dials = [[answerer]]
        exten = answerer
        context = "from-internal"
    dialed = list(dict.fromkeys(e for g in dials for e in g))
    caller_name = rng.choice(_NAMES) if r() < 0.6 else phone
    ext_name = rng.choice(_NAMES)
    chan_out = f"SIP/{trunk or phone}-{rng.getrandbits(32):08x}"
    chan_in = f"SIP/{answerer}-{rng.getrandbits(32):08x}"

    ev: list[SimEvent] = []
    add = ev.append
    last = _LAST_SECOND

    t = s0
    if ct == 0:
        add(SimEvent(t, "start", uid, {"Token": tok, "UniqueId": uid, "Phone": phone,
                                        "CallType": 0 if r() < 0.5 else "0", "Trunk": trunk}))
        t += randint(0, 2)
    for i, group in enumerate(dials):
        if i:
            t += randint(8, 30)
        dial_exts = _encode_exts(rng, group) if r() >= 0.03 else ([""] if r() < 0.5 else [])
        body = {"Token": tok, "UniqueId": uid, "Phone": phone, "Extensions": dial_exts,
                "CallType": ct_val, "Trunk": trunk or "", "ExtTrunk": "", "ExtPhone": ""}
        if ct == 1 and r() < 0.3:
            body["ExternalInitiated"] = True
        add(SimEvent(min(t, last), "dial", uid, body))
        if r() < 0.7:  # the PBX updates the connected line for every ring group
            t += randint(0, 1)
            add(SimEvent(min(t, last), "new_callerid", uid, {
                "Token": tok, "UniqueId": uid, "Channel": chan_out, "CallerIDNum": phone,
                "CallerIDName": caller_name, "ConnectedLineNum": group[0],
                "ConnectedLineName": ext_name, "Context": context, "Exten": exten}))
    t += randint(2, 45)

    intermediate = r() < 0.15
    if answered:
        buid = _bridge_id(rng)
        bt = min(t, last)
        add(SimEvent(bt, "bridge_create", "", _bridge_body(tok, buid, "0")))
        ans_num = answerer if r() >= 0.03 else f"{answerer} "
        b_caller = {"Token": tok, "UniqueId": uid, "Channel": chan_out, "Exten": exten,
                    "CallerIDNum": phone, "CallerIDName": caller_name,
                    "ConnectedLineNum": answerer, "ConnectedLineName": ext_name}
        b_agent = {"Token": tok, "UniqueId": uid, "Channel": chan_in, "Exten": exten,
                   "CallerIDNum": ans_num, "CallerIDName": ext_name,
                   "ConnectedLineNum": phone, "ConnectedLineName": caller_name}
        pair = (b_caller, b_agent) if r() < 0.5 else (b_agent, b_caller)
        for b in pair:
            add(SimEvent(bt, "bridge", uid, b, {"BridgeUniqueid": buid}))
        if r() < 0.8:  # connected line of the answering party
            add(SimEvent(bt, "new_callerid", uid, {
                "Token": tok, "UniqueId": uid, "Channel": chan_in, "CallerIDNum": answerer,
                "CallerIDName": ext_name, "ConnectedLineNum": phone,
                "ConnectedLineName": caller_name, "Context": "macro-dial-one", "Exten": "s"}))
        t += min(3600, int(rng.expovariate(1 / 150)) + 1)
        t_mid = randint(bt, t) if intermediate else t
        end = min(t, last)
        if intermediate:
            add(_intermediate_hangup(rng, tok, uid, phone, dials[0], ct_val, ts, s0, t_mid, trunk))
        for n, (chan, num, name, cnum, cname) in enumerate((
            (chan_out, phone, caller_name, answerer, ext_name),
            (chan_in, answerer, ext_name, phone, caller_name),
        )):
            add(SimEvent(end, "bridge_leave", uid, {
                "Token": tok, "UniqueId": uid, "Channel": chan, "CallerIDNum": num,
                "CallerIDName": name, "ConnectedLineNum": cnum, "ConnectedLineName": cname,
                "BridgeUniqueid": buid, "BridgeNumChannels": str(1 - n)}))
        add(SimEvent(end, "bridge_destroy", "", _bridge_body(tok, buid, "0")))
        hangup_exts: list[str] = [answerer]
        if r() < 0.05:
            hangup_exts.append(rng.choice(exts))
        if r() < 0.01:
            hangup_exts = []
    else:
        holding = ct == 0 and r() < 0.8
        if holding:
            buid = _bridge_id(rng)
            add(SimEvent(ev[-1].second, "bridge_create", "", _bridge_body(tok, buid, "0")))
        if intermediate:
            add(_intermediate_hangup(
                rng, tok, uid, phone, dials[0], ct_val, ts, s0, randint(ev[-1].second, t), trunk))
        end = min(t, last)
        if holding:
            chan_queue = f"Local/{dials[-1][0]}@from-queue-{rng.getrandbits(32):08x};2"
            for n, chan in enumerate((chan_out, chan_queue)):
                add(SimEvent(end, "bridge_leave", uid, {
                    "Token": tok, "UniqueId": uid, "Channel": chan, "CallerIDNum": phone,
                    "CallerIDName": caller_name, "ConnectedLineNum": "", "ConnectedLineName": "",
                    "BridgeUniqueid": buid, "BridgeNumChannels": str(1 - n)}))
            add(SimEvent(end, "bridge_destroy", "", _bridge_body(tok, buid, "0")))
        hangup_exts = dialed if r() >= 0.2 else []

    hangup = {"Token": tok, "UniqueId": uid, "Phone": phone,
              "Extensions": _encode_exts(rng, hangup_exts), "CallType": ct_val,
              "DateReceived": ts[s0], "StartTime": ts[s0] if r() >= 0.08 else "",
              "EndTime": ts[end], "CallStatus": status}
    if trunk is not None:
        hangup["Trunk"] = trunk
    if ct == 1 and r() < 0.3:
        hangup["ExternalInitiated"] = True
    if r() < 0.03:
        hangup["Language"] = "ru"
    add(SimEvent(end, "hangup", uid, hangup))

    if dirty_p > 0.0:
        ev = _add_dirt(rng, ev, tok, uid, phone, ts, day, dirty_p)
    return SimCall(uid, day, ct, status, answered, s0, end, _norm_exts(hangup_exts), tuple(ev))


def _bridge_body(tok: str, buid: str, channels: str) -> dict[str, Any]:
    return {"Token": tok, "BridgeUniqueid": buid, "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge", "BridgeCreator": "<unknown>",
            "BridgeName": "<unknown>", "BridgeNumChannels": channels}


def _intermediate_hangup(
    rng: random.Random, tok: str, uid: str, phone: str, exts: Sequence[str], ct_val: Any,
    ts: Sequence[str], s0: int, second: int, trunk: str | None,
) -> SimEvent:
    """A second, earlier hangup body of the same call; never the one SPEC §4.2 chooses."""
    second = min(second, _LAST_SECOND)
    body: dict[str, Any] = {"Token": tok, "UniqueId": uid, "Phone": phone,
                            "Extensions": _encode_exts(rng, exts), "CallType": ct_val,
                            "DateReceived": ts[s0], "StartTime": ts[s0]}
    x = rng.random()
    if x < 0.6:
        body["EndTime"] = ts[second]
    elif x < 0.85:
        pass  # EndTime missing
    else:
        body["EndTime"] = ""
    body["CallStatus"] = rng.choice(("0", "1", ""))
    if trunk is not None:
        body["Trunk"] = trunk
    return SimEvent(second, "hangup", uid, body)


def _bad_time(rng: random.Random, day: date) -> Any:
    value = rng.choice(_BAD_TIMES)
    return value.format(day=day.isoformat()) if isinstance(value, str) else value


def _add_dirt(
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
        text = choice((_encode([{"Token": tok, "UniqueId": uid, "CallStatus": "2"}]), "[]",
                       _encode(["hangup", uid])))
        return SimEvent(sec, choice(("hangup", "dial")), uid, text, raw=True, dirty=True)
    if kind == "json_scalar":
        text = choice((_encode(f"hangup {uid}"), "null", "42", "true", '"ok"'))
        return SimEvent(sec, choice(("hangup", "start")), uid, text, raw=True, dirty=True)
    if kind == "blank_hangup":
        body: dict[str, Any] = {"Token": tok, "Phone": phone, "Extensions": [],
                                "CallType": "0", "DateReceived": ts[sec], "StartTime": ts[sec],
                                "EndTime": ts[sec], "CallStatus": "0"}
        if rng.random() < 0.5:
            body = {"Token": tok, "UniqueId": "", **{k: v for k, v in body.items() if k != "Token"}}
        return SimEvent(sec, "hangup", "", body, dirty=True)
    if kind == "bad_times":
        body = {"Token": tok, "UniqueId": uid, "Phone": phone, "Extensions": [],
                "CallType": "0", "CallStatus": choice(("0", "2", ""))}
        for key in ("DateReceived", "StartTime"):
            if rng.random() < 0.7:
                body[key] = _bad_time(rng, day)
        end = _bad_time(rng, day)
        if rng.random() < 0.7:  # EndTime always missing or malformed: never the chosen hangup
            body["EndTime"] = end
        return SimEvent(sec, "hangup", uid, body, dirty=True)
    if kind in ("weird_chars", "sql"):
        pool = _WEIRD_TEXT if kind == "weird_chars" else _SQL_TEXT
        return SimEvent(sec, "new_callerid", uid, {
            "Token": tok, "UniqueId": uid, "Channel": f"SIP/{choice(pool)}-0000beef",
            "CallerIDNum": phone, "CallerIDName": choice(pool), "ConnectedLineNum": "",
            "ConnectedLineName": choice(pool), "Context": "from-trunk", "Exten": "s"},
            dirty=True)
    if kind == "unknown_event":
        return SimEvent(sec, choice(_UNKNOWN_EVENTS), uid, {
            "Token": tok, "UniqueId": uid, "Variable": "QUEUE", "Value": choice(_NAMES)},
            dirty=True)
    if kind == "uid_mismatch":
        other = f"{_epoch_of_midnight(day) + sec}.{rng.randint(1, 999_999)}{rng.randint(0, 9)}"
        return SimEvent(sec, "new_callerid", uid, {
            "Token": tok, "UniqueId": other, "Channel": "Local/s@from-queue-0000abcd;1",
            "CallerIDNum": phone, "CallerIDName": "", "ConnectedLineNum": "",
            "ConnectedLineName": "", "Context": "from-queue", "Exten": "s"}, dirty=True)
    # huge: a ~100 KB body
    chunk = "Журнал | trace\tline \"q\"\n"
    return SimEvent(sec, "UserEvent", uid, {
        "Token": tok, "UniqueId": uid, "UserEvent": "Debug",
        "Data": (chunk * (100_000 // len(chunk) + 1))[:100_000]}, dirty=True)


def _start_seconds(rng: random.Random, n: int) -> list[int]:
    """Call start times over a whole day, peaking in business hours."""
    out = []
    for _ in range(n):
        if rng.random() < 0.85:
            s = int(rng.triangular(7 * 3600, 21 * 3600, 12 * 3600))
        else:
            s = rng.randrange(0, 86_400)
        out.append(min(s, _LAST_SECOND))
    out.sort()
    return out


def _iter_calls(
    rng: random.Random, token: str, day: date, starts: Sequence[int], first_seq: int,
    dirty_share: float,
) -> Iterator[SimCall]:
    pbx = _pbx(token)
    ts = _timestamps(day)
    dirty_p = _dirty_probability(dirty_share)
    seq = first_seq
    for s0 in starts:
        seq += rng.randint(1, 3)
        yield _build_call(rng, pbx, day, ts, s0, seq, dirty_p)


def _dirty_probability(dirty_share: float) -> float:
    """Per clean event probability that yields ``dirty_share`` of all rows."""
    if not 0.0 <= dirty_share < 1.0:
        raise ValueError("dirty_share must be in [0, 1)")
    return dirty_share / (1.0 - dirty_share)


def _interleave(calls: Iterable[SimCall]) -> Iterator[SimEvent]:
    """Events of calls (ordered by start) merged into one time-ordered stream, as the PBX logs them.

    Streaming heap merge: memory stays bounded by the calls in progress, not the day.
    """
    heap: list[tuple[int, int, SimEvent]] = []
    counter = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    for call in calls:
        s0 = call.start_second
        while heap and heap[0][0] <= s0:
            yield pop(heap)[2]
        for e in call.events:
            push(heap, (e.second, next(counter), e))
    while heap:
        yield pop(heap)[2]


# --------------------------------------------------------------------------------------------
# rows and statuses


def _reserialize(rng: random.Random, body: dict[str, Any]) -> str:
    """The same JSON with another key order or spacing (what a retry row looks like)."""
    x = rng.randrange(5)
    if x == 0:
        return json.dumps(body, ensure_ascii=False, sort_keys=True)
    if x == 1:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if x == 2:
        return json.dumps(dict(reversed(list(body.items()))), ensure_ascii=False)
    if x == 3:
        return json.dumps(body, ensure_ascii=True, sort_keys=True, separators=(", ", ": "))
    return json.dumps(body, ensure_ascii=False, indent=1)


class _RowMaker:
    """Turns events into source rows of one table kind, drawing statuses from its own RNG."""

    def __init__(self, rng: random.Random, alternative: bool, undelivered: float):
        self.rng = rng
        self.alternative = alternative
        self.undelivered = undelivered

    def rows(self, ev: SimEvent, text: str | None, when: str) -> list[tuple[Any, ...]]:
        """One row, or the failed row plus its retry."""
        r = self.rng.random
        x = r()
        failed = x < self.undelivered if self.alternative else x >= 0.98
        if not failed:
            y = r()
            if self.alternative:
                status = "<Response [200]>" if y < 0.9 else "ok" if y < 0.97 else "<Response [204]>"
            else:
                status = "<Response [200]>" if y < 0.93 else ("ok" if y < 0.97 else "OK")
            response = "" if r() < 0.6 else '{"status":"ok"}'
            row = (when, ev.event, ev.uniqueid, text, status, response, round(0.005 + r() * 0.4, 4))
            return [row]
        y = r()
        for status, response, edge in _UNDELIVERED:
            if y < edge:
                break
        if status == "Timeout":
            elapsed = round(5.0 + r() * 5.0, 3)
        elif status is None or status == "''":
            elapsed = 0.0
        else:
            elapsed = round(0.001 + r() * 0.05, 4)
        rows = [(when, ev.event, ev.uniqueid, text, status, response, elapsed)]
        if r() < _RETRY_SHARE:
            if ev.raw:
                retry = text
            else:
                body = ev.body
                if self.alternative and ev.alt_extra:
                    body = {**body, **ev.alt_extra}
                retry = _reserialize(self.rng, body)
            rows.append((when, ev.event, ev.uniqueid, retry, "''", "", 0.0))
        return rows


def _texts(ev: SimEvent) -> tuple[str | None, str | None]:
    """Request text for APIlogs and for the Alternative tables."""
    if ev.raw:
        return ev.body, ev.body
    api = _encode(ev.body)
    if ev.alt_extra:
        return api, _encode({**ev.body, **ev.alt_extra})
    return api, api


# --------------------------------------------------------------------------------------------
# files


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    return con


def _existing_tables(con: sqlite3.Connection) -> set[str]:
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _ensure_api_tables(con: sqlite3.Connection, tables: Iterable[str]) -> None:
    have = _existing_tables(con)
    for name in tables:
        _check_table(name)
        if name not in have:
            con.execute(_API_DDL.format(name=name))


def _check_table(name: str) -> None:
    if not _TABLE_NAME.match(name):
        raise ValueError(f"not a plain table name: {name!r}")


def _remove_file(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def write_day_file(
    path: Path, *, token: str, day: date, calls: int, seed: int, dirty_share: float = 0.01,
    live_share_undelivered: float = 0.9, start_id: int = 0,
) -> DayFileSummary:
    """Create (or overwrite) one complete day file in a single fast transaction.

    UniqueId sequence numbers start just above ``start_id``; give files that end up in the same
    central database distinct ``start_id`` ranges if they share a day (``simulate_fleet`` does).
    ``live_share_undelivered`` is the share of events whose first AlternativeAPIlogs delivery
    failed (a failure is followed by a ``"''"`` retry row half of the time).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_file(path)
    rng = random.Random(f"day|{seed}|{token}|{day.isoformat()}|{start_id}")
    api_maker = _RowMaker(random.Random(f"api|{seed}|{token}|{day}"), False, 0.0)
    alt_maker = _RowMaker(random.Random(f"alt|{seed}|{token}|{day}"), True, live_share_undelivered)
    alt2_maker = _RowMaker(random.Random(f"alt2|{seed}|{token}|{day}"), True, 0.5)
    ts = _timestamps(day)

    starts = _start_seconds(rng, calls)
    tally = [0, 0]  # calls, answered

    def counted(source: Iterable[SimCall]) -> Iterator[SimCall]:
        for call in source:
            tally[0] += 1
            tally[1] += call.answered
            yield call

    stream = _interleave(counted(_iter_calls(rng, token, day, starts, start_id, dirty_share)))

    counts = {name: 0 for name in (*ALL_API_TABLES, *_OTHER_DDL)}
    dirty_rows = 0
    con = _connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        for name in ALL_API_TABLES:
            con.execute(_API_DDL.format(name=name))
        for ddl in _OTHER_DDL.values():
            con.execute(ddl)
        ins_api = _INSERT.format(name="APIlogs")
        ins_alt = _INSERT.format(name="AlternativeAPIlogs")
        alt2_rows: list[tuple[Any, ...]] = []
        chunk_size = 20_000
        while True:
            chunk = list(itertools.islice(stream, chunk_size))
            if not chunk:
                break
            api_rows: list[tuple[Any, ...]] = []
            alt_rows: list[tuple[Any, ...]] = []
            api_rows_of, alt_rows_of = api_maker.rows, alt_maker.rows
            for ev in chunk:
                api_text, alt_text = _texts(ev)
                when = ts[ev.second]
                a = api_rows_of(ev, api_text, when)
                b = alt_rows_of(ev, alt_text, when)
                api_rows += a
                alt_rows += b
                if ev.dirty:
                    dirty_rows += len(a) + len(b)
                if len(alt2_rows) < 12:
                    c = alt2_maker.rows(ev, alt_text, when)
                    alt2_rows += c
                    if ev.dirty:
                        dirty_rows += len(c)
            con.executemany(ins_api, api_rows)
            con.executemany(ins_alt, alt_rows)
            counts["APIlogs"] += len(api_rows)
            counts["AlternativeAPIlogs"] += len(alt_rows)
        con.executemany(_INSERT.format(name="Alternative2APIlogs"), alt2_rows)
        counts["Alternative2APIlogs"] = len(alt2_rows)
        counts.update(_write_side_tables(con, rng, token, day))
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=FULL")
    finally:
        con.close()
    return DayFileSummary(path, _enterprise_of(path), day, tally[0], tally[1], counts, dirty_rows)


def _enterprise_of(path: Path) -> str:
    return path.parent.name


def _write_side_tables(
    con: sqlite3.Connection, rng: random.Random, token: str, day: date
) -> dict[str, int]:
    """A few rows in ScriptEvents and AMIEventLog, which the pipeline never imports."""
    ts = _timestamps(day)
    script = [
        (ts[1], "Listen_AMI.py", "INFO", f"listener started, token {token}"),
        (ts[2], "Listen_AMI.py", "INFO", "connected to AMI 127.0.0.1:5038"),
        (ts[rng.randrange(3600, 80_000)], "Listen_AMI.py", "WARNING",
         "webhook http://10.88.10.19:8001/webhook: timeout, will retry"),
        (ts[_LAST_SECOND], "Listen_AMI.py", "INFO", "rotating database"),
    ]
    con.executemany("INSERT INTO ScriptEvents (DateTime, script, level, message) VALUES (?,?,?,?)",
                    script)
    ami = [
        (ts[1], "FullyBooted", "", "Privilege: system,all\r\nStatus: Fully Booted"),
        (ts[rng.randrange(3600, 80_000)], "PeerStatus", "",
         '{"Peer": "SIP/201", "PeerStatus": "Registered"}'),
        (ts[rng.randrange(3600, 80_000)], "VarSet", f"{_epoch_of_midnight(day) + 40_000}.1",
         "Variable: QUEUE|Value: Отдел продаж"),
    ]
    con.executemany(
        "INSERT INTO AMIEventLog (DateTime, Event, Uniqueid, Data) VALUES (?,?,?,?)", ami
    )
    return {"ScriptEvents": len(script), "AMIEventLog": len(ami)}


def plan_calls(
    *, token: str, day: date, calls: int, seed: int, dirty_share: float = 0.0,
    start_id: int = 0, first_second: int | None = None,
) -> list[SimCall]:
    """Generate calls without writing them (for split writes with :func:`append_events`).

    Calls start after local second ``first_second`` (default: spread over the whole day) and
    their UniqueId sequence numbers are above ``start_id``.
    """
    rng = random.Random(f"plan|{seed}|{token}|{day.isoformat()}|{start_id}|{first_second}")
    if first_second is None:
        starts = _start_seconds(rng, calls)
    else:
        remaining = max(1, _LAST_SECOND - first_second)
        gap = max(1.0, min(90.0, remaining / (calls + 1)))
        starts, s = [], float(first_second)
        for _ in range(calls):
            s += rng.expovariate(1.0 / gap)
            starts.append(min(_LAST_SECOND, int(s) + 1))
    return list(_iter_calls(rng, token, day, starts, start_id, dirty_share))


def _file_state(con: sqlite3.Connection, day: date) -> tuple[int, int | None]:
    """(highest UniqueId sequence number, last local second of ``day``) over the API tables."""
    max_seq = 0
    last: int | None = None
    have = _existing_tables(con)
    for name in ALL_API_TABLES:
        if name not in have:
            continue
        row = con.execute(
            f"SELECT MAX(CAST(substr(Uniqueid, instr(Uniqueid, '.') + 1) AS INTEGER)) "
            f"FROM {name} WHERE instr(Uniqueid, '.') > 0"
        ).fetchone()
        if row and row[0] is not None:
            max_seq = max(max_seq, int(row[0]))
        row = con.execute(
            f"SELECT MAX(DateTime) FROM {name} WHERE DateTime LIKE ?", (day.isoformat() + " %",)
        ).fetchone()
        if row and row[0]:
            try:
                moment = datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S")
            except ValueError:
                continue
            second = moment.hour * 3600 + moment.minute * 60 + moment.second
            last = second if last is None else max(last, second)
    return max_seq, last


def append_calls(
    path: Path, *, token: str, day: date, calls: int, seed: int, dirty_share: float = 0.0,
    commit_every_row: bool = True, tables: tuple[str, ...] = ("APIlogs", "AlternativeAPIlogs"),
    only_events: tuple[str, ...] | None = None, live_share_undelivered: float = 0.9,
    not_before: int | None = None, min_id: int = 0,
) -> AppendResult:
    """Append complete new calls after the file's last row, as the live listener would.

    UniqueIds are fresh (sequence numbers above every one in the file and above ``min_id``) and
    the calls start after the file's latest ``DateTime`` of ``day`` (08:00 in a new or empty
    file), and not before local second ``not_before`` (a writer following the clock). With
    ``only_events`` only those event types are written now; the returned result's ``calls`` keep
    every event, so the rest can be written later with :func:`append_events`.
    Returns the total rows appended (an ``int``; ``.per_table`` has the split per table).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path)
    try:
        _ensure_api_tables(con, dict.fromkeys((*ALL_API_TABLES, *tables)))
        max_seq, last = _file_state(con, day)
    finally:
        con.close()
    first = (8 * 3600 if not_before is None else 0) if last is None else last
    if not_before is not None:
        first = max(first, min(not_before, _LAST_SECOND - 1))
    planned = plan_calls(token=token, day=day, calls=calls, seed=seed, dirty_share=dirty_share,
                         start_id=max(max_seq, min_id), first_second=first)
    return append_events(path, planned, only_events=only_events, tables=tables,
                         commit_every_row=commit_every_row,
                         live_share_undelivered=live_share_undelivered, seed=seed)


def append_events(
    path: Path, calls: Sequence[SimCall], *, only_events: Iterable[str] | None = None,
    exclude_events: Iterable[str] = (), tables: tuple[str, ...] = ("APIlogs", "AlternativeAPIlogs"),
    commit_every_row: bool = True, live_share_undelivered: float = 0.9, seed: int = 0,
) -> AppendResult:
    """Write (some of) the events of planned calls, time-ordered, one INSERT + COMMIT per row.

    Each event goes to every table in ``tables`` (APIlogs first), like the listener that tries
    both webhooks. E.g. write everything but the hangups now and the hangups in a later cycle.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wanted = None if only_events is None else set(only_events)
    skipped = set(exclude_events)
    picked = [
        (ev.second, i, ev, call.day)
        for i, (call, ev) in enumerate((c, e) for c in calls for e in c.events)
        if (wanted is None or ev.event in wanted) and ev.event not in skipped
    ]
    picked.sort(key=lambda item: (item[3], item[0], item[1]))
    key = f"{seed}|{calls[0].unique_id if calls else ''}|{sorted(wanted or [])}|{sorted(skipped)}"
    makers: dict[str, _RowMaker] = {}
    for name in tables:
        _check_table(name)
        makers[name] = _RowMaker(random.Random(f"append|{name}|{key}"), name != "APIlogs",
                                 live_share_undelivered)
    per_table = {name: 0 for name in tables}
    dirty_rows = 0
    con = _connect(path)
    try:
        _ensure_api_tables(con, dict.fromkeys((*ALL_API_TABLES, *tables)))
        if not commit_every_row:
            con.execute("BEGIN")
        inserts = {name: _INSERT.format(name=name) for name in tables}
        for _, _, ev, ev_day in picked:
            api_text, alt_text = _texts(ev)
            when = _timestamps(ev_day)[ev.second]
            for name in tables:
                rows = makers[name].rows(ev, api_text if name == "APIlogs" else alt_text, when)
                for row in rows:
                    con.execute(inserts[name], row)  # autocommit: one COMMIT per row
                per_table[name] += len(rows)
                if ev.dirty:
                    dirty_rows += len(rows)
        if not commit_every_row:
            con.execute("COMMIT")
    finally:
        con.close()
    return AppendResult(per_table, calls, dirty_rows)


def append_rows(
    path: Path, table: str,
    rows: Iterable[tuple[str | None, str | None, str | None, str | None, str | None]],
) -> list[int]:
    """Append hand-made (DateTime, event, Uniqueid, request, status) rows, one COMMIT per row.

    ``response`` is written as ``''`` and ``responseTime`` as ``0.0``; the table is created with
    the real DDL when missing. Returns the new rows' ids in order.
    """
    _check_table(table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids: list[int] = []
    con = _connect(path)
    try:
        _ensure_api_tables(con, (table,))
        sql = _INSERT.format(name=table)
        for when, event, uniqueid, request, status in rows:
            cur = con.execute(sql, (when, event, uniqueid, request, status, "", 0.0))
            ids.append(int(cur.lastrowid or 0))
    finally:
        con.close()
    return ids


def simulate_fleet(
    outdir: Path, *, enterprises: Sequence[str], days: int, calls_per_day: int, end_date: date,
    seed: int = 1, dirty_share: float = 0.01,
) -> list[DayFileSummary]:
    """``days`` day files per enterprise up to ``end_date`` inclusive, in ``outdir/<number>/``.

    Each enterprise gets its own UniqueId sequence range, so no two calls of the fleet share a
    UniqueId. Returned in (enterprise, day) order.
    """
    stride = max(10**6, days * (calls_per_day * 3 + 10))
    out: list[DayFileSummary] = []
    for index, enterprise in enumerate(enterprises):
        token = token_for(enterprise)
        for k in range(days):
            day = end_date - timedelta(days=days - 1 - k)
            summary = write_day_file(
                day_file_path(Path(outdir), enterprise, day), token=token, day=day,
                calls=calls_per_day, seed=seed, dirty_share=dirty_share,
                start_id=index * stride + k * (calls_per_day * 3 + 10),
            )
            out.append(DayFileSummary(summary.path, enterprise, day, summary.calls,
                                      summary.answered, summary.rows, summary.dirty_rows))
    return out
