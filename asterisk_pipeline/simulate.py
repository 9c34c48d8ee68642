"""Realistic, deliberately dirty ``Listen_AMI_YYYY-MM-DD.db`` files (SPEC §2), seeded.

Why: tests, the demo and the benchmarks need PBX files that look like the real ones - same table
shapes, same event sequences, the same encoding zoo and the same garbage - without a PBX. Every
function here is a pure function of its arguments (and, for the append helpers, of the file's
current content): one ``random.Random`` seeded from the arguments, never the global generator,
never the wall clock.

Two writers:

* :func:`write_day_file` builds a whole day in one transaction (fast path for fixtures and
  benchmarks: 110,000 calls, ~0.9 M APIlogs rows and ~2.1 M rows in all, in about 16 s with
  ``complex_share=0``; the default conversation shapes add about 25% rows and time).
* :func:`append_calls` / :func:`append_events` / :func:`append_rows` add rows to an existing file
  the way the real listener does - one INSERT and one COMMIT per row, rollback journal - so that
  readers can be tested against a file that is being written.

Conversations: most calls are one UniqueId (shape ``"simple"``), but by default about a fifth
are the multi-UniqueId shapes of SPEC §2.3 (:data:`SHAPES`: attended transfers over Local
channels, blind transfers, FollowMe to a mobile, internal calls, a busy manager, one caller in
two concurrent calls), modelled on the recorded conversations in ``examples/conversations``.
Each :class:`SimCall` is one conversation and carries its ground truth (``legs``,
``direction``, ``transfer_chain``, ``shape``...), so tests can check the assembly of SPEC §4.2.
``complex_share=0`` gives the historical one-UniqueId-per-call output, byte for byte.

Each conversation's truth also names its SPEC §4.2 ``call_shape`` (the ``calls.shape``
vocabulary, :data:`CALL_SHAPES`), every linked leg's ``link`` and its ``participants`` with their
status (§4.4); :meth:`SimCall.truth` gives it as JSON and :func:`write_truth` writes one line per
conversation next to the day file (``Listen_AMI_<day>.truth.jsonl``). The rules the truth follows
where the SPEC leaves a choice: ``outgoing`` / ``internal`` name every call of that direction
(answered or not); an incoming call where a forwarding target rang is ``followme``, one with a
consultation nobody answered ``consultation_unanswered``; with two or more holders it is
``transfer_attended`` (a consultation over a Local channel), ``transfer_blind`` (the caller's own
channel dialled the target) or ``transfer`` (the rows tell neither); otherwise ``unanswered``
when nobody held it, ``group`` when more than one party is a participant (rang or was listed),
else ``direct``. Links: ``primary``; ``forwarding`` for both halves of a forward joined by rule 3;
``local`` for every other Local half; ``bridge`` for the rest (their channels were bridged).

``busy=True`` (``asterisk-pipeline simulate --busy N``) is the "busy day": N conversations, about
half of them multi-UniqueId, starting within N/10 seconds from 10:00 (the second of a paired shape
a little later) so that thousands are in progress at once, sharing the enterprise's few extensions and trunks and a small pool of caller
numbers; it adds two scenarios only a busy day draws: ``transfer_unknown`` (a caller handed from
one desk phone to another inside one bridge, so the rows tell neither attended nor blind) and
``transfer_to_followme`` (an attended transfer to a FollowMe number that rings the manager's desk
phone and mobile; the mobile answers, the desk phone only rang). A busy day also forwards to a
manager's mobile that is already in another open forward now and then: rule 3 then has two
candidates, and the truth lists that forward's halves as ``loose`` (legs stored without a call).

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
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, Self

__all__ = [
    "ALL_API_TABLES",
    "ANSWERED_SHARE",
    "BUSY_SHAPES",
    "CALL_SHAPES",
    "COMPLEX_SHARE",
    "EVENT_TYPES",
    "PBX_UTC_OFFSET",
    "SHAPES",
    "AppendResult",
    "DayFileSummary",
    "SimCall",
    "SimEvent",
    "append_calls",
    "append_events",
    "append_rows",
    "day_file_path",
    "plan_calls",
    "simulate_fleet",
    "token_for",
    "truth_path",
    "write_day_file",
    "write_truth",
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
#: Conversation shapes (SPEC §2.3): "simple" is one UniqueId per call, the rest several.
SHAPES: tuple[str, ...] = (
    "simple", "attended_transfer", "attended_transfer_chain", "blind_transfer",
    "blind_transfer_busy", "unanswered_consultation", "followme_mobile", "followme_cancelled",
    "internal", "internal_misleading", "busy_manager", "concurrent_caller",
)
#: Default share of start slots given to a complex shape (~22% of conversations end up complex).
COMPLEX_SHARE = 0.2
_COMPLEX_SHAPES = SHAPES[1:]
_COMPLEX_WEIGHTS = (20, 8, 12, 5, 8, 6, 8, 8, 8, 4, 5)
_PAIRED = frozenset({"busy_manager", "concurrent_caller"})  # two conversations each
#: Shapes only a busy day draws (the default output stays byte for byte what it was).
BUSY_SHAPES: tuple[str, ...] = ("transfer_unknown", "transfer_to_followme")
_BUSY_COMPLEX_SHAPES = (*_COMPLEX_SHAPES, *BUSY_SHAPES)
_BUSY_COMPLEX_WEIGHTS = (*_COMPLEX_WEIGHTS, 6, 6)
#: SPEC §4.2 ``calls.shape`` vocabulary (as ``model.SHAPES``; the simulator imports nothing).
CALL_SHAPES: tuple[str, ...] = (
    "direct", "group", "transfer", "transfer_attended", "transfer_blind", "followme",
    "consultation_unanswered", "unanswered", "outgoing", "internal",
)
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
        (
            "ConnectionError(MaxRetryError(\"HTTPConnectionPool(host='10.88.10.19', port=8001): "
            "Max retries exceeded with url: /webhook (Caused by NewConnectionError('<urllib3."
            "connection.HTTPConnection object>: Failed to establish a new connection: [Errno 111] "
            "Connection refused'))\"))"
        ),
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
    """A generated conversation with all its events (also those not written yet).

    ``unique_id`` is the primary UniqueId (SPEC §4.2); ``call_status``, ``call_type`` and
    ``extensions`` are the primary's final hangup's; ``answered`` is whether somebody held the
    conversation (only a blind transfer to a busy extension has it True with status "0").
    """

    unique_id: str
    day: date
    call_type: int
    call_status: str
    answered: bool
    start_second: int
    end_second: int
    extensions: tuple[str, ...]  # the final hangup's Extensions, normalized (SPEC §2.2)
    events: tuple[SimEvent, ...] = field(repr=False)
    # Ground truth of the conversation (SPEC §2.3 / §4.2), what an import must rebuild:
    shape: str = "simple"  # one of SHAPES
    legs: tuple[str, ...] = ()  # every UniqueId it made, primary (= unique_id) first
    direction: str = ""  # '0' incoming, '1' outgoing, '2' internal (calls.call_type)
    transfer_chain: tuple[str, ...] = ()  # parties that held it, in order (empty: unanswered)
    phone: str = ""  # the other side: the outside number, or the calling extension (internal)
    trunk_attempts: tuple[str, ...] = ()  # UniqueIds seen only in a new_callerid: a failed trunk
    # attempt, a desk phone that only rang in a FollowMe; SPEC §4.2 links none of them
    related: tuple[str, ...] = ()  # primaries of overlapping conversations sharing a party
    call_shape: str = ""  # SPEC §4.2 calls.shape (CALL_SHAPES)
    #: forwarding legs rule 3 cannot place (two open calls dial their target): legs without a call
    loose: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (UniqueId, call_legs.link) of every linked leg
    participants: tuple[tuple[str, str], ...] = ()  # (party, participant_status), ring order

    def __post_init__(self) -> None:
        """Defaults for a plain one-UniqueId call built by older callers."""
        if not self.legs:
            object.__setattr__(self, "legs", (self.unique_id,))
        if not self.direction:
            object.__setattr__(self, "direction", str(self.call_type))
        if not self.links:
            object.__setattr__(self, "links", tuple((uid, "primary" if uid == self.unique_id else "bridge")
                                                    for uid in self.linked_legs))

    def truth(self) -> dict[str, Any]:
        """The ground truth as JSON: what the warehouse must hold for this conversation."""
        return {
            "primary": self.unique_id, "scenario": self.shape, "shape": self.call_shape,
            "direction": self.direction, "answered": self.answered, "phone": self.phone,
            "start": self.start_local.isoformat(sep=" "), "end": self.end_local.isoformat(sep=" "),
            "legs": [{"unique_id": uid, "link": link} for uid, link in self.links],
            "unlinked": list(self.trunk_attempts), "loose": list(self.loose),
            "chain": list(self.transfer_chain),
            "participants": [{"party": p, "status": st} for p, st in self.participants],
            "related": list(self.related),
        }

    @property
    def linked_legs(self) -> tuple[str, ...]:
        """The legs SPEC §4.2 links into the call (failed trunk attempts stay unlinked)."""
        skip = {*self.trunk_attempts, *self.loose}
        return tuple(uid for uid in self.legs if uid not in skip)

    @property
    def answered_by(self) -> str | None:
        return self.transfer_chain[0] if self.transfer_chain else None

    @property
    def final_extension(self) -> str | None:
        return self.transfer_chain[-1] if self.transfer_chain else None

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
    calls: int  # conversations generated (= distinct UniqueIds with a hangup when no complex)
    answered: int  # conversations answered (with complex_share=0: final CallStatus "2")
    rows: dict[str, int]  # rows written per table name
    dirty_rows: int  # rows deliberately malformed (all tables)
    hangup_uids: int = 0  # distinct UniqueIds with a hangup row (legs included)
    shapes: dict[str, int] = field(default_factory=dict)  # conversations per shape
    #: every conversation's ground truth (SimCall without its events), in start order
    conversations: tuple[SimCall, ...] = field(default=(), repr=False)


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
    ) -> Self:
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


_SCENARIO_SHAPES = {
    "followme_mobile": "followme", "followme_cancelled": "followme",
    "unanswered_consultation": "consultation_unanswered",
    "attended_transfer": "transfer_attended", "attended_transfer_chain": "transfer_attended",
    "busy_manager": "transfer_attended", "blind_transfer": "transfer_blind",
    "transfer_unknown": "transfer", "transfer_to_followme": "transfer_attended",
}


def _call_shape(scenario: str, direction: str, chain: Sequence[str], participants: int) -> str:
    """SPEC §4.2 ``shape`` of a generated conversation (the choices: module docstring)."""
    if direction == "1":
        return "outgoing"
    if direction == "2":
        return "internal"
    if len(chain) > 1 or scenario in ("followme_mobile", "followme_cancelled",
                                      "unanswered_consultation"):
        return _SCENARIO_SHAPES[scenario]
    if not chain:
        return "unanswered"
    return "group" if participants > 1 else "direct"


def _participants(
    dialled: Iterable[Sequence[str]], exts: Sequence[str], chain: Sequence[str],
    extra: Sequence[str], other_side: str,
) -> tuple[tuple[str, str], ...]:
    """SPEC §4.4: dial targets (the primary's first), the call's extensions, the chain, then
    parties only the Local channel names show (an unanswered consultation's target)."""
    order: list[str] = []
    for party in itertools.chain(itertools.chain.from_iterable(dialled), exts, chain, extra):
        if party and party != other_side and party not in order:
            order.append(party)
    held = set(chain)
    return tuple((p, "answered" if p in held else "no_answer") for p in order)


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


def _caller_phone(rng: random.Random, state: _State | None) -> str:
    """An outside number: drawn from the busy day's small shared pool, else a fresh one."""
    if state is not None and state.phones:
        return rng.choice(state.phones)
    return _external_phone(rng)


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
    dirty_p: float, answered_share: float = ANSWERED_SHARE, state: _State | None = None,
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
    answered = r() < answered_share
    if answered:
        status = "2"
    else:
        y = r()
        status = "0" if y < 0.8 else ("1" if y < 0.88 else ("5" if y < 0.92 else ""))

    trunk: str | None
    if ct == 0:
        y = r()
        odd_phones = ("", "<unknown>", "Anonymous")
        phone = _caller_phone(rng, state) if y < 0.9 else odd_phones[int(y * 1000) % 3]
        trunk = rng.choice(pbx.trunks)
        groups = 1 if r() < 0.4 else (2 if r() < 0.6 else 3)
        dials = [rng.sample(exts, min(len(exts), randint(1, 3))) for _ in range(groups)]
        answerer = rng.choice(dials[-1])
        exten = rng.choice(pbx.dids)
        context = "from-trunk"
    elif ct == 1:
        answerer = rng.choice(exts)
        phone = _caller_phone(rng, state)
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
    dialled: list[tuple[str, ...]] = []

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
        dialled.append(_norm_exts(dial_exts))
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
    chain = (answerer,) if answered else ()
    people = _participants(dialled, _norm_exts(hangup_exts), chain, (), phone)
    return SimCall(uid, day, ct, status, answered, s0, end, _norm_exts(hangup_exts), tuple(ev),
                   transfer_chain=chain, phone=phone,
                   call_shape=_call_shape("simple", str(ct), chain, len(people)),
                   links=((uid, "primary"),), participants=people)


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


# --------------------------------------------------------------------------------------------
# conversations of several UniqueIds (SPEC §2.3)


class _Leg(NamedTuple):
    """One channel of a conversation: its UniqueId and ``Channel`` name."""

    uid: str
    chan: str


_Party = tuple[str, str]  # (CallerIDNum, CallerIDName) of one side of a channel
_UNKNOWN: _Party = ("<unknown>", "<unknown>")


class _State:
    """What the generator remembers between conversations (calls are made in start order).

    Why: a FollowMe leg is linked by its target only when one open call dials that mobile
    (SPEC §4.2 rule 3), so a manager's mobile is not reused while an earlier forward is open.
    """

    def __init__(self, phones: Sequence[str] = ()) -> None:
        self.mobile_busy_until: dict[str, int] = {}
        self.phones = tuple(phones)  # busy day: the caller numbers every call draws from


@lru_cache(maxsize=256)
def _mobiles(token: str) -> dict[str, str]:
    """Managers (extensions) with a mobile the PBX forwards to: stable per token."""
    exts = _pbx(token).extensions
    rng = random.Random(f"mobiles|{token}")
    managers = exts[: rng.randint(1, min(3, len(exts)))]
    return {ext: f"375{rng.choice(('29', '33', '44'))}{rng.randint(1_000_000, 9_999_999)}"
            for ext in managers}


class _Conv:
    """One conversation being written: its events, UniqueIds and the row helpers.

    Why one object: every body of a conversation shares Token, CallType encoding and optional
    extra keys, and its UniqueIds must come from one contiguous sequence range (Local halves get
    consecutive ones, as Asterisk gives them).
    """

    def __init__(self, rng: random.Random, pbx: _Pbx, day: date, seq: int) -> None:
        self.rng = rng
        self.pbx = pbx
        self.tok = pbx.token
        self.day = day
        self.ts = _timestamps(day)
        self.epoch0 = _epoch_of_midnight(day)
        self.seq = seq - 1  # the first UniqueId gets ``seq``
        self.events: list[SimEvent] = []
        self.legs: list[str] = []
        self.trunk_attempts: list[str] = []
        self.ct_as_int = rng.random() < 0.5
        self.extra: dict[str, Any] = {}  # keys added to every body with a UniqueId
        self.trunk = ""  # the outside line of an incoming call (Exten of its bridge rows)
        self.dialled: list[tuple[str, tuple[str, ...]]] = []  # (UniqueId, targets) per dial row
        self.local_uids: set[str] = set()  # Local halves
        self.forwarding: set[str] = set()  # legs only SPEC §4.2 rule 3 links
        self.rang_extra: list[str] = []  # parties only a Local channel name shows

    # ids and channels
    def hex8(self) -> str:
        return f"{self.rng.getrandbits(32):08x}"

    def new_uid(self, second: int) -> str:
        self.seq += 1
        uid = f"{self.epoch0 + min(second, _LAST_SECOND)}.{self.seq}"
        self.legs.append(uid)
        return uid

    def sip(self, second: int, owner: str) -> _Leg:
        """A desk phone (``owner`` = extension) or outside line (``owner`` = trunk) channel."""
        return _Leg(self.new_uid(second), f"SIP/{owner}-{self.hex8()}")

    def local(self, second: int, target: str, context: str) -> tuple[_Leg, _Leg]:
        """The ``;1`` and ``;2`` halves of one Local channel, consecutive UniqueIds."""
        base = f"Local/{target}@{context}-{self.hex8()}"
        one = _Leg(self.new_uid(second), base + ";1")
        two = _Leg(self.new_uid(second), base + ";2")
        self.local_uids.update((one.uid, two.uid))
        return one, two

    def ct(self, value: int) -> Any:
        return value if self.ct_as_int else str(value)

    # rows
    def add(self, t: int, event: str, uid: str, body: dict[str, Any],
            alt: dict[str, Any] | None = None) -> None:
        if uid and self.extra:
            body.update(self.extra)
        self.events.append(SimEvent(min(t, _LAST_SECOND), event, uid, body, alt))

    def create(self, t: int, buid: str | None = None) -> str:
        buid = buid or _bridge_id(self.rng)
        self.add(t, "bridge_create", "", _bridge_body(self.tok, buid, "0"))
        return buid

    def destroy(self, t: int, buid: str) -> None:
        self.add(t, "bridge_destroy", "", _bridge_body(self.tok, buid, "0"))

    def bridge(self, t: int, leg: _Leg, me: _Party, other: _Party, buid: str,
               exten: str = "") -> None:
        """A channel enters a bridge; only the Alternative tables' body names the bridge."""
        self.add(t, "bridge", leg.uid, {
            "Token": self.tok, "UniqueId": leg.uid, "Channel": leg.chan, "Exten": exten,
            "CallerIDNum": me[0], "CallerIDName": me[1], "ConnectedLineNum": other[0],
            "ConnectedLineName": other[1]}, {"BridgeUniqueid": buid})

    def leave(self, t: int, leg: _Leg, me: _Party, other: _Party, buid: str, left: int) -> None:
        self.add(t, "bridge_leave", leg.uid, {
            "Token": self.tok, "UniqueId": leg.uid, "Channel": leg.chan, "CallerIDNum": me[0],
            "CallerIDName": me[1], "ConnectedLineNum": other[0], "ConnectedLineName": other[1],
            "BridgeUniqueid": buid, "BridgeNumChannels": str(left)})

    def callerid(self, t: int, leg: _Leg, me: _Party, other: _Party, context: str,
                 exten: str) -> None:
        self.add(t, "new_callerid", leg.uid, {
            "Token": self.tok, "UniqueId": leg.uid, "Channel": leg.chan, "CallerIDNum": me[0],
            "CallerIDName": me[1], "ConnectedLineNum": other[0], "ConnectedLineName": other[1],
            "Context": context, "Exten": exten})

    def dial(self, t: int, uid: str, phone: str, exts: Any, ct: int, trunk: str,
             ext_phone: str = "") -> None:
        self.dialled.append((uid, _norm_exts(exts)))
        self.add(t, "dial", uid, {
            "Token": self.tok, "UniqueId": uid, "Phone": phone, "Extensions": exts,
            "CallType": self.ct(ct), "Trunk": trunk, "ExtTrunk": "", "ExtPhone": ext_phone})

    def hangup(self, t: int, uid: str, *, phone: str, exts: Any, ct: int, received: int,
               start: int | None, end: int, status: str, trunk: str | None) -> None:
        """A hangup row written a few seconds after its EndTime; no Trunk key when None."""
        ts = self.ts
        body: dict[str, Any] = {
            "Token": self.tok, "UniqueId": uid, "Phone": phone, "Extensions": exts,
            "CallType": self.ct(ct), "DateReceived": ts[min(received, _LAST_SECOND)],
            "StartTime": "" if start is None else ts[min(start, _LAST_SECOND)],
            "EndTime": ts[min(end, _LAST_SECOND)], "CallStatus": status}
        if trunk is not None:
            body["Trunk"] = trunk
        self.add(max(t, end), "hangup", uid, body)

    def finish(
        self, dirty_p: float, *, shape: str, direction: str, ct: int, status: str,
        answered: bool, s0: int, end: int, exts: Sequence[str], chain: Sequence[str],
        phone: str, final: dict[str, Any], related: Sequence[str] = (),
    ) -> SimCall:
        """Write the primary's own hangup last, add dirt, and return the conversation."""
        primary = self.legs[0]
        skip = set(self.trunk_attempts)
        links = tuple(
            (uid, "primary" if uid == primary else "forwarding" if uid in self.forwarding
             else "local" if uid in self.local_uids else "bridge")
            for uid in self.legs if uid not in skip
        )
        dialled = [exts for uid, exts in self.dialled if uid == primary]
        dialled += [exts for uid, exts in self.dialled if uid != primary]
        people = _participants(dialled, _norm_exts(final["exts"]), chain, self.rang_extra, phone)
        last_second = max(e.second for e in self.events) if self.events else s0
        self.hangup(max(last_second, end + self.rng.randint(0, 3)), primary, end=end, **final)
        events = sorted(self.events, key=lambda e: e.second)  # stable: row order within a second
        if dirty_p > 0.0:
            events = _add_dirt(self.rng, events, self.tok, primary, final["phone"], self.ts,
                               self.day, dirty_p)
        return SimCall(
            primary, self.day, ct, status, answered, s0, min(end, _LAST_SECOND),
            _norm_exts(exts), tuple(events), shape=shape, legs=tuple(self.legs),
            direction=direction, transfer_chain=tuple(chain), phone=phone,
            trunk_attempts=tuple(self.trunk_attempts), related=tuple(related),
            call_shape=_call_shape(shape, direction, chain, len(people)), links=links,
            participants=people)


def _caller_name(rng: random.Random, phone: str) -> str:
    return f"-{phone}" if rng.random() < 0.5 else rng.choice(_NAMES)


def _incoming_start(
    c: _Conv, s0: int, phone: str, name: str, trunk: str, groups: Sequence[Sequence[str]],
) -> tuple[_Leg, int]:
    """start, the caller's new_callerid and one dial row per ring group; returns (caller, t)."""
    caller = c.sip(s0, trunk)
    c.trunk = trunk
    c.add(s0, "start", caller.uid, {"Token": c.tok, "UniqueId": caller.uid, "Phone": phone,
                                    "CallType": c.ct(0), "Trunk": trunk})
    c.callerid(s0, caller, (phone, name), _UNKNOWN, "from-out-office", trunk)
    t = s0 + c.rng.randint(0, 1)
    for i, group in enumerate(groups):
        if i:
            t += c.rng.randint(8, 25)
        c.dial(t, caller.uid, phone, _encode_exts(c.rng, group), 0, trunk, ext_phone=phone)
    return caller, t


def _answer(
    c: _Conv, t: int, caller: _Leg, caller_p: _Party, agent: _Leg, agent_p: _Party, trunk: str,
) -> tuple[str, int]:
    """The agent answers: a new bridge with the caller; returns (bridge, t)."""
    randint = c.rng.randint
    t += randint(2, 20)
    buid = c.create(t)
    t += randint(0, 2)
    c.bridge(t, caller, caller_p, agent_p, buid, exten=trunk)
    t += randint(0, 2)
    c.bridge(t, agent, agent_p, caller_p, buid)
    return buid, t


def _hang_up_bridge(
    c: _Conv, t: int, caller: _Leg, caller_p: _Party, holder: _Leg, holder_p: _Party, buid: str,
) -> None:
    c.leave(t, holder, holder_p, caller_p, buid, 1)
    c.leave(t, caller, caller_p, holder_p, buid, 0)
    c.destroy(t, buid)


def _attended_hop(
    c: _Conv, t: int, caller: _Leg, caller_p: _Party, holder: _Leg, holder_p: _Party,
    talk_bridge: str, target: str, target_name: str,
) -> tuple[_Leg, str, int]:
    """The holder consults ``target`` over a Local channel and hands the caller over (2-18).

    Returns (the target's desk-phone leg, the bridge where the caller now talks, t). Two
    recorded variants: the caller moves into the consultation bridge, or the target moves into
    the caller's bridge. The Local ``;2`` half ends with a CallType 2 hangup, Phone = the
    caller, Extensions = [target].
    """
    randint = c.rng.randint
    consult = t
    hold = c.create(t)
    c.bridge(t, holder, holder_p, caller_p, hold)
    one, two = c.local(consult, target, "dialexecute")
    t_leg = c.sip(consult, target)
    tgt_p: _Party = (target, target_name)
    t += randint(1, 2)
    c.callerid(t, two, (holder_p[0], "<unknown>"), _UNKNOWN, "dialexecute", target)
    c.callerid(t, one, (target, "<unknown>"), (holder_p[0], "<unknown>"), "dialexecute", target)
    t += randint(2, 15)
    side = c.create(t)
    t += randint(0, 1)
    c.bridge(t, two, (holder_p[0], ""), tgt_p, side, exten=target)
    t += randint(1, 3)
    c.bridge(t, t_leg, tgt_p, (holder_p[0], ""), side)
    t += randint(3, 60)
    moved = t
    c.leave(t, holder, holder_p, tgt_p, hold, 1)
    c.leave(t, one, (target, "<unknown>"), (holder_p[0], "<unknown>"), hold, 0)
    if c.rng.random() < 0.5:  # the caller moves to the target's bridge
        t += randint(1, 2)
        c.bridge(t, one, (target, ""), (holder_p[0], "<unknown>"), talk_bridge, exten=target)
        c.destroy(t, hold)
        t += 1
        c.leave(t, caller, caller_p, (holder_p[0], "<unknown>"), talk_bridge, 1)
        t += 1
        c.bridge(t, caller, caller_p, tgt_p, side, exten=c.trunk)
        t += 1
        c.leave(t, two, (holder_p[0], "<unknown>"), tgt_p, side, 2)
        c.callerid(t, two, caller_p, tgt_p, "dialexecute", target)
        c.hangup(t + randint(1, 3), two.uid, phone=caller_p[0], exts=[target], ct=2,
                 received=consult, start=None, end=moved, status="2", trunk=None)
        t += randint(2, 4)
        c.leave(t, one, (target, "<unknown>"), (holder_p[0], "<unknown>"), talk_bridge, 0)
        c.destroy(t, talk_bridge)
        return t_leg, side, t
    t += randint(1, 2)  # the target moves into the caller's bridge
    c.bridge(t, one, (target, ""), (holder_p[0], "<unknown>"), talk_bridge, exten=target)
    c.destroy(t, hold)
    t += 1
    c.leave(t, t_leg, tgt_p, (holder_p[0], "<unknown>"), side, 1)
    t += randint(1, 2)
    c.bridge(t, t_leg, (target, ""), caller_p, talk_bridge)
    c.leave(t, one, (target, "<unknown>"), (holder_p[0], "<unknown>"), talk_bridge, 2)
    t += 1
    c.leave(t, two, (holder_p[0], "<unknown>"), tgt_p, side, 0)
    c.callerid(t, two, caller_p, tgt_p, "dialexecute", target)
    t += 1
    c.destroy(t, side)
    c.hangup(t + randint(1, 3), two.uid, phone=caller_p[0], exts=[target], ct=2,
             received=consult, start=None, end=moved, status="2", trunk=None)
    return t_leg, talk_bridge, t


def _build_transfer(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float, shape: str,
    state: _State | None = None,
) -> SimCall:
    """An incoming call answered by A and then transferred: attended (1-3 hops), blind, blind to
    a busy extension, or an unanswered consultation (A keeps the caller)."""
    randint = rng.randint
    c = _Conv(rng, pbx, day, seq)
    phone = _caller_phone(rng, state)
    name = _caller_name(rng, phone)
    trunk = rng.choice(pbx.trunks)
    hops = {"attended_transfer": 1, "attended_transfer_chain": randint(2, 3)}.get(shape, 1)
    people = rng.sample(pbx.extensions, min(len(pbx.extensions), hops + 1))
    first = people[0]
    group = list(dict.fromkeys([first, *rng.sample(pbx.extensions, randint(0, 2))]))
    rng.shuffle(group)
    caller, t = _incoming_start(c, s0, phone, name, trunk, [group])
    caller_p: _Party = (phone, name)
    holder = c.sip(s0, first)
    holder_p: _Party = (first, rng.choice(_NAMES))
    talk, t = _answer(c, t, caller, caller_p, holder, holder_p, trunk)
    chain = [first]
    final: dict[str, Any] = {"phone": phone, "exts": _encode_exts(rng, [first]), "ct": 0,
                             "received": s0, "start": s0, "status": "2", "trunk": trunk}
    status, ct, exts = "2", 0, [first]
    t += randint(5, 120)
    if shape in ("attended_transfer", "attended_transfer_chain"):
        for target in people[1:]:
            holder, talk, t = _attended_hop(c, t, caller, caller_p, holder, holder_p, talk,
                                            target, rng.choice(_NAMES))
            holder_p = (target, "")
            chain.append(target)
            t += randint(5, 120)
        holder_p = (holder_p[0], "")
        end = t + randint(0, 300)
        _hang_up_bridge(c, end, caller, caller_p, holder, holder_p, talk)
    elif shape == "unanswered_consultation":
        target = rng.choice([e for e in pbx.extensions if e != first])
        hold = c.create(t)
        c.bridge(t, holder, holder_p, caller_p, hold)
        one, two = c.local(t, target, "dialexecute")
        c.rang_extra.append(target)  # rang, never answered: only the Local channel names it
        consult = t
        t += randint(1, 2)
        c.callerid(t, two, (first, "<unknown>"), _UNKNOWN, "dialexecute", target)
        c.callerid(t, one, (target, "<unknown>"), (first, "<unknown>"), "dialexecute", target)
        t += randint(10, 30)  # target rings, nobody answers, A goes back to the caller
        c.hangup(t + randint(0, 2), two.uid, phone=first, exts=[""], ct=2, received=consult,
                 start=None, end=t, status="0", trunk=None)
        c.leave(t, one, (target, "<unknown>"), (first, "<unknown>"), hold, 1)
        c.leave(t, holder, holder_p, caller_p, hold, 0)
        c.destroy(t, hold)
        t += randint(1, 2)
        c.bridge(t, holder, holder_p, caller_p, talk)
        end = t + randint(5, 300)
        _hang_up_bridge(c, end, caller, caller_p, holder, holder_p, talk)
    else:  # blind transfer: the caller's own channel is sent to dial B
        target = rng.choice([e for e in pbx.extensions if e != first])
        _hang_up_bridge(c, t, caller, caller_p, holder, holder_p, talk)
        t += randint(0, 1)
        c.dial(t, caller.uid, phone, _encode_exts(rng, [target]), 2, "")
        c.callerid(t, caller, caller_p, (target, ""), "from-internal-xfer", target)
        status, ct, exts = ("0" if shape == "blind_transfer_busy" else "2"), 2, [target]
        final.update(exts=[target], ct=2, status=status, trunk=None)
        if shape == "blind_transfer_busy":
            end = t + randint(1, 6)  # busy tone; the caller hangs up
        else:
            b_leg = c.sip(t, target)
            b_p: _Party = (target, rng.choice(_NAMES))
            second, t = _answer(c, t, caller, caller_p, b_leg, b_p, trunk)
            chain.append(target)
            end = t + randint(5, 300)
            _hang_up_bridge(c, end, caller, caller_p, b_leg, b_p, second)
    return c.finish(dirty_p, shape=shape, direction="0", ct=ct, status=status, answered=True,
                    s0=s0, end=end, exts=exts, chain=chain, phone=phone, final=final)


def _build_followme(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float, shape: str,
    state: _State,
) -> SimCall:
    """Ring groups growing to a manager's mobile over a Local channel (2-13): trunk attempts
    that fail leave only a new_callerid; answered on the mobile, or cancelled because a desk
    phone answers (or because nobody does)."""
    randint = rng.randint
    c = _Conv(rng, pbx, day, seq)
    phone = _caller_phone(rng, state)
    name = _caller_name(rng, phone)
    trunk = rng.choice(pbx.trunks)
    free = [(e, m) for e, m in _mobiles(pbx.token).items()
            if state.mobile_busy_until.get(m, -1) < s0]
    if state.phones and rng.random() < 0.3:  # busy day: a mobile already in a forward, sometimes
        free = list(_mobiles(pbx.token).items())
    if free:
        manager, mobile = rng.choice(free)
    else:  # every manager's mobile is in a forward already: a colleague's own number
        manager, mobile = rng.choice(pbx.extensions), _external_phone(rng).lstrip("+")
    other = rng.choice([e for e in pbx.extensions if e != manager])
    outcome = "mobile" if shape == "followme_mobile" else (
        "desk" if rng.random() < 0.75 else "nobody")
    groups = [[manager], [manager, other], [manager, mobile, other]]
    caller, t = _incoming_start(c, s0, phone, name, trunk, groups)
    caller_p: _Party = (phone, name)
    mob_p: _Party = (mobile, "<unknown>")
    fwd = t
    buid = _bridge_id(rng)
    one, two = c.local(fwd, mobile, buid[:8])
    desk = c.sip(fwd, other) if outcome == "desk" else None
    c.callerid(t, one, (trunk, "<unknown>"), caller_p, buid[:8], trunk)
    c.callerid(t, two, caller_p, (trunk, "<unknown>"), buid[:8], mobile)
    line = trunk
    lines: list[tuple[str, _Leg]] = []
    for _ in range(randint(1, 2) if outcome != "mobile" else randint(1, 3)):
        line = rng.choice(pbx.trunks)
        c.dial(t, two.uid, mobile, [phone], 1, line)
        out = c.sip(t, line)
        c.callerid(t, out, mob_p, caller_p, "from-out-office", mobile)
        lines.append((line, out))
        t += randint(0, 3)
    final: dict[str, Any] = {"phone": phone, "ct": 0, "received": s0, "start": s0,
                             "trunk": trunk}
    if outcome == "mobile":
        line, out = lines.pop()  # the last attempt got through: it is bridged
        t += randint(3, 20)
        c.create(t, buid)
        c.bridge(t, caller, caller_p, mob_p, buid, exten=trunk)
        c.bridge(t, one, mob_p, caller_p, buid, exten=mobile)
        outer = c.create(t)
        c.bridge(t, two, caller_p, mob_p, outer, exten=mobile)
        c.bridge(t, out, mob_p, caller_p, outer, exten=mobile)
        answer = t
        end = t + randint(10, 400)
        _hang_up_bridge(c, end, two, caller_p, out, mob_p, outer)
        _hang_up_bridge(c, end, caller, caller_p, one, mob_p, buid)
        c.hangup(end + randint(1, 3), two.uid, phone=mobile, exts=[phone], ct=1, received=fwd,
                 start=answer, end=end, status="2", trunk=line)
        final.update(exts=_encode_exts(rng, [mobile]), status="2")
        chain, exts = [mobile], [mobile]
    elif desk is not None:  # 2-13: a desk phone answers, the forward is cancelled
        t += randint(3, 20)
        c.create(t, buid)
        desk_p: _Party = (other, rng.choice(_NAMES))
        c.bridge(t, caller, caller_p, (other, ""), buid, exten=trunk)
        c.hangup(t + randint(5, 14), two.uid, phone=mobile, exts=[phone], ct=1, received=fwd,
                 start=fwd, end=t + randint(2, 11), status="0", trunk=line)
        t += randint(1, 14)
        c.bridge(t, desk, (other, ""), caller_p, buid)
        end = t + randint(2, 300)
        _hang_up_bridge(c, end, caller, caller_p, desk, desk_p, buid)
        final.update(exts=_encode_exts(rng, [other]), status="2")
        chain, exts = [other], [other]
    else:  # the caller gives up while everybody rings
        end = t + randint(5, 30)
        c.hangup(end, two.uid, phone=mobile, exts=[phone], ct=1, received=fwd, start=fwd,
                 end=end, status="0", trunk=line)
        final.update(exts=_encode_exts(rng, [manager, mobile, other]), status="0")
        chain, exts = [], [manager, mobile, other]
    c.trunk_attempts.extend(leg.uid for _, leg in lines)
    if outcome != "mobile":  # never bridged: the forward joins by its target only (rule 3)
        c.forwarding.update((one.uid, two.uid))
    state.mobile_busy_until[mobile] = end + 10
    return c.finish(dirty_p, shape=shape, direction="0", ct=0, status=final["status"],
                    answered=bool(chain), s0=s0, end=end, exts=exts, chain=chain, phone=phone,
                    final=final)


def _internal_rows(
    c: _Conv, s0: int, caller_ext: str, callee: str, misleading: bool,
) -> tuple[_Leg, _Leg, str, int]:
    """An extension dials a colleague who answers; returns (caller leg, callee leg, bridge, t)."""
    randint = c.rng.randint
    if misleading:
        c.extra = {"ExternalInitiated": True}
    ct = 0 if misleading else 2
    me = c.sip(s0, caller_ext)
    c.dial(s0, me.uid, caller_ext, _encode_exts(c.rng, [callee]), ct, "")
    c.callerid(s0, me, (caller_ext, c.rng.choice(_NAMES)), (callee, ""), "from-internal", callee)
    them = c.sip(s0, callee)
    t = s0 + randint(2, 15)
    buid = c.create(t)
    c.bridge(t, me, (caller_ext, ""), (callee, ""), buid, exten=callee)
    t += randint(0, 1)
    c.bridge(t, them, (callee, ""), (caller_ext, ""), buid)
    return me, them, buid, t


def _build_internal(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float, shape: str,
) -> SimCall:
    """An internal call, a channel (UniqueId) per phone; ``internal_misleading`` says CallType 0
    and ``ExternalInitiated: true`` on every row, with an empty Trunk."""
    c = _Conv(rng, pbx, day, seq)
    caller_ext, callee = rng.sample(pbx.extensions, 2)
    misleading = shape == "internal_misleading"
    me, them, buid, t = _internal_rows(c, s0, caller_ext, callee, misleading)
    end = t + rng.randint(5, 400)
    _hang_up_bridge(c, end, me, (caller_ext, ""), them, (callee, ""), buid)
    final = {"phone": caller_ext, "exts": _encode_exts(rng, [callee]),
             "ct": 0 if misleading else 2, "received": s0, "start": s0, "status": "2",
             "trunk": "" if misleading else None}
    return c.finish(dirty_p, shape=shape, direction="2", ct=final["ct"], status="2",
                    answered=True, s0=s0, end=end, exts=[callee], chain=[callee],
                    phone=caller_ext, final=final)


def _build_busy_manager(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float,
    state: _State | None = None,
) -> tuple[SimCall, SimCall]:
    """Manager E talks to a colleague (internal call) while a customer call answered by A is
    handed to E after a consultation: two overlapping conversations sharing E."""
    randint = rng.randint
    colleague, manager, agent = rng.sample(pbx.extensions, 3)
    inner = _Conv(rng, pbx, day, seq)
    me, them, ibuid, _ = _internal_rows(inner, s0, colleague, manager, False)
    s1 = min(s0 + randint(5, 40), _LAST_SECOND)
    k = _Conv(rng, pbx, day, inner.seq + randint(1, 3))
    phone = _caller_phone(rng, state)
    name = _caller_name(rng, phone)
    trunk = rng.choice(pbx.trunks)
    caller, t = _incoming_start(k, s1, phone, name, trunk, [[agent]])
    caller_p: _Party = (phone, name)
    a_leg = k.sip(s1, agent)
    a_p: _Party = (agent, rng.choice(_NAMES))
    talk, t = _answer(k, t, caller, caller_p, a_leg, a_p, trunk)
    t += randint(5, 60)
    e_leg, talk, t = _attended_hop(k, t, caller, caller_p, a_leg, a_p, talk, manager, "")
    end = t + randint(10, 300)
    _hang_up_bridge(k, end, caller, caller_p, e_leg, (manager, ""), talk)
    i_end = t + randint(10, 200)  # the internal call outlives the hand-over
    _hang_up_bridge(inner, i_end, me, (colleague, ""), them, (manager, ""), ibuid)
    i_final = {"phone": colleague, "exts": _encode_exts(rng, [manager]), "ct": 2,
               "received": s0, "start": s0, "status": "2", "trunk": None}
    k_final = {"phone": phone, "exts": _encode_exts(rng, [agent]), "ct": 0, "received": s1,
               "start": s1, "status": "2", "trunk": trunk}
    a = inner.finish(dirty_p, shape="busy_manager", direction="2", ct=2, status="2",
                     answered=True, s0=s0, end=i_end, exts=[manager], chain=[manager],
                     phone=colleague, final=i_final, related=[k.legs[0]])
    b = k.finish(dirty_p, shape="busy_manager", direction="0", ct=0, status="2", answered=True,
                 s0=s1, end=end, exts=[agent], chain=[agent, manager], phone=phone,
                 final=k_final, related=[inner.legs[0]])
    return a, b


def _build_concurrent(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float,
    state: _State | None = None,
) -> tuple[SimCall, SimCall]:
    """One outside number in two unrelated, overlapping calls (two lines of one office)."""
    randint = rng.randint
    phone = _caller_phone(rng, state)
    made: list[tuple[_Conv, int, int, bool, str, dict[str, Any]]] = []
    start, next_seq = s0, seq
    for n in range(2):
        c = _Conv(rng, pbx, day, next_seq)
        name = _caller_name(rng, phone)
        trunk = rng.choice(pbx.trunks)
        agent = rng.choice(pbx.extensions)
        if rng.random() < 0.2:  # also seen on plain incoming calls
            c.extra = {"ExternalInitiated": True}
        caller, t = _incoming_start(c, start, phone, name, trunk, [[agent]])
        answered = n == 0 or rng.random() < 0.7
        if answered:
            a_leg = c.sip(start, agent)
            a_p: _Party = (agent, rng.choice(_NAMES))
            buid, t = _answer(c, t, caller, (phone, name), a_leg, a_p, trunk)
            end = t + randint(30, 400)
            _hang_up_bridge(c, end, caller, (phone, name), a_leg, a_p, buid)
        else:
            end = t + randint(5, 40)
        final = {"phone": phone, "exts": _encode_exts(rng, [agent]), "ct": 0,
                 "received": start, "start": start, "status": "2" if answered else "0",
                 "trunk": trunk}
        made.append((c, start, end, answered, agent, final))
        start = min(_LAST_SECOND, s0 + randint(3, max(4, end - s0 - 5)))  # while the 1st is on
        next_seq = c.seq + randint(1, 3)
    primaries = [m[0].legs[0] for m in made]
    out = [
        c.finish(dirty_p, shape="concurrent_caller", direction="0", ct=0,
                 status=final["status"], answered=answered, s0=begin, end=end, exts=[agent],
                 chain=[agent] if answered else [], phone=phone, final=final,
                 related=[primaries[1 - n]])
        for n, (c, begin, end, answered, agent, final) in enumerate(made)
    ]
    return out[0], out[1]


def _build_handover(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float, state: _State,
) -> SimCall:
    """A answers; B's desk phone joins the caller's bridge and A leaves (a pickup of a parked or
    held call): two holders, no consultation channel and no dial of B, so the rows do not tell
    an attended from a blind transfer (SPEC §4.2 ``transfer``)."""
    randint = rng.randint
    c = _Conv(rng, pbx, day, seq)
    phone = _caller_phone(rng, state)
    name = _caller_name(rng, phone)
    trunk = rng.choice(pbx.trunks)
    first, second = rng.sample(pbx.extensions, 2)
    caller, t = _incoming_start(c, s0, phone, name, trunk, [[first]])
    caller_p: _Party = (phone, name)
    a_leg = c.sip(s0, first)
    a_p: _Party = (first, rng.choice(_NAMES))
    talk, t = _answer(c, t, caller, caller_p, a_leg, a_p, trunk)
    t += randint(5, 120)
    b_leg = c.sip(t, second)
    b_p: _Party = (second, rng.choice(_NAMES))
    c.bridge(t, b_leg, b_p, caller_p, talk)
    t += randint(0, 2)
    c.leave(t, a_leg, a_p, caller_p, talk, 2)
    c.callerid(t, caller, caller_p, b_p, "from-internal", second)
    end = t + randint(5, 300)
    _hang_up_bridge(c, end, caller, caller_p, b_leg, b_p, talk)
    final = {"phone": phone, "exts": _encode_exts(rng, [first]), "ct": 0, "received": s0,
             "start": s0, "status": "2", "trunk": trunk}
    return c.finish(dirty_p, shape="transfer_unknown", direction="0", ct=0, status="2",
                    answered=True, s0=s0, end=end, exts=[first], chain=[first, second],
                    phone=phone, final=final)


def _build_transfer_to_followme(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float, state: _State,
) -> SimCall:
    """A answers and consults a FollowMe number over a Local channel; FollowMe rings the
    manager's desk phone and, over a second Local channel, the mobile; the mobile answers, the
    desk phone only rang (one new_callerid: tied to nothing, SPEC §4.2), and A hands the caller
    over. The chain is [A, mobile]: the mobile's far end is recorded (issue 19, defect 1)."""
    randint = rng.randint
    c = _Conv(rng, pbx, day, seq)
    phone = _caller_phone(rng, state)
    name = _caller_name(rng, phone)
    trunk = rng.choice(pbx.trunks)
    free = [(e, m) for e, m in _mobiles(pbx.token).items() if state.mobile_busy_until.get(m, -1) < s0]
    manager, mobile = rng.choice(free) if free else (
        rng.choice(pbx.extensions), _external_phone(rng).lstrip("+"))
    first = rng.choice([e for e in pbx.extensions if e != manager])
    number = f"9{randint(0, 99):02d}"  # the FollowMe number: no desk phone has it
    caller, t = _incoming_start(c, s0, phone, name, trunk, [[first]])
    caller_p: _Party = (phone, name)
    a_leg = c.sip(s0, first)
    a_p: _Party = (first, rng.choice(_NAMES))
    talk, t = _answer(c, t, caller, caller_p, a_leg, a_p, trunk)
    t += randint(5, 60)
    consult = t
    hold = c.create(t)
    c.bridge(t, a_leg, a_p, caller_p, hold)
    one, two = c.local(t, number, "dialexecute")
    c.callerid(t, two, (first, "<unknown>"), _UNKNOWN, "dialexecute", number)
    c.callerid(t, one, (number, "<unknown>"), (first, "<unknown>"), "dialexecute", number)
    t += randint(1, 2)
    c.dial(t, two.uid, first, _encode_exts(rng, [manager, mobile]), 2, "")
    desk = c.sip(t, manager)  # rings, never answers: only its connected line is written
    c.callerid(t, desk, (manager, ""), (first, ""), "from-internal", manager)
    c.trunk_attempts.append(desk.uid)
    m1, m2 = c.local(t, mobile, f"followme-{c.hex8()}")
    c.callerid(t, m2, caller_p, (number, "<unknown>"), "followme", mobile)
    line = rng.choice(pbx.trunks)
    c.dial(t, m2.uid, mobile, _encode_exts(rng, [phone]), 1, line)
    out = c.sip(t, line)
    c.callerid(t, out, (mobile, "<unknown>"), caller_p, "from-out-office", mobile)
    mob_p: _Party = (mobile, "<unknown>")
    t += randint(3, 20)
    side = c.create(t)
    c.bridge(t, two, (first, ""), mob_p, side, exten=number)
    c.bridge(t, m1, mob_p, (first, ""), side, exten=mobile)
    outer = c.create(t)
    c.bridge(t, m2, (first, ""), mob_p, outer, exten=mobile)
    c.bridge(t, out, mob_p, (first, ""), outer, exten=mobile)
    answer = t
    t += randint(3, 60)  # A talks to the manager's mobile, then completes the transfer
    moved = t
    c.leave(t, a_leg, a_p, mob_p, hold, 1)
    c.leave(t, one, (number, "<unknown>"), (first, "<unknown>"), hold, 0)
    t += randint(1, 2)
    c.bridge(t, one, (number, ""), (first, "<unknown>"), talk, exten=number)
    c.destroy(t, hold)
    t += 1
    c.leave(t, caller, caller_p, (first, "<unknown>"), talk, 1)
    t += 1
    c.bridge(t, caller, caller_p, mob_p, side, exten=trunk)
    c.leave(t, two, (first, "<unknown>"), mob_p, side, 2)
    c.callerid(t, two, caller_p, mob_p, "dialexecute", number)
    c.hangup(t + randint(1, 3), two.uid, phone=phone, exts=[number], ct=2, received=consult,
             start=None, end=moved, status="2", trunk=None)
    t += randint(1, 2)
    c.leave(t, one, (number, "<unknown>"), (first, "<unknown>"), talk, 0)
    c.destroy(t, talk)
    end = t + randint(10, 300)
    c.leave(end, m1, mob_p, caller_p, side, 1)
    c.leave(end, caller, caller_p, mob_p, side, 0)
    c.destroy(end, side)
    c.leave(end, out, mob_p, caller_p, outer, 1)
    c.leave(end, m2, caller_p, mob_p, outer, 0)
    c.destroy(end, outer)
    c.hangup(end + randint(1, 3), m2.uid, phone=mobile, exts=[phone], ct=1, received=answer,
             start=answer, end=end, status="2", trunk=line)
    state.mobile_busy_until[mobile] = end + 10
    final = {"phone": phone, "exts": _encode_exts(rng, [first]), "ct": 0, "received": s0,
             "start": s0, "status": "2", "trunk": trunk}
    return c.finish(dirty_p, shape="transfer_to_followme", direction="0", ct=0, status="2",
                    answered=True, s0=s0, end=end, exts=[first], chain=[first, mobile],
                    phone=phone, final=final)


def _build_complex(
    rng: random.Random, pbx: _Pbx, day: date, s0: int, seq: int, dirty_p: float, shape: str,
    state: _State,
) -> list[SimCall]:
    """The conversations of one complex shape starting at ``s0`` (two for the paired shapes)."""
    if shape in ("followme_mobile", "followme_cancelled"):
        return [_build_followme(rng, pbx, day, s0, seq, dirty_p, shape, state)]
    if shape in ("internal", "internal_misleading"):
        return [_build_internal(rng, pbx, day, s0, seq, dirty_p, shape)]
    if shape == "busy_manager":
        return list(_build_busy_manager(rng, pbx, day, s0, seq, dirty_p, state))
    if shape == "concurrent_caller":
        return list(_build_concurrent(rng, pbx, day, s0, seq, dirty_p, state))
    if shape == "transfer_unknown":
        return [_build_handover(rng, pbx, day, s0, seq, dirty_p, state)]
    if shape == "transfer_to_followme":
        return [_build_transfer_to_followme(rng, pbx, day, s0, seq, dirty_p, state)]
    return [_build_transfer(rng, pbx, day, s0, seq, dirty_p, shape, state)]

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


def _busy_starts(rng: random.Random, n: int) -> tuple[list[int], tuple[str, ...]]:
    """A busy day: n starts within n/10 seconds from 10:00 (thousands of calls in progress at
    once) and the small pool of caller numbers they share (one per 40 calls, at least 20)."""
    window = max(60, n // 10)
    starts = sorted(min(10 * 3600 + rng.randrange(window), _LAST_SECOND) for _ in range(n))
    phones = tuple(dict.fromkeys(_external_phone(rng) for _ in range(max(20, n // 40))))
    return starts, phones


def _iter_calls(
    rng: random.Random, token: str, day: date, starts: Sequence[int], first_seq: int,
    dirty_share: float, complex_share: float = 0.0, phones: Sequence[str] = (),
    busy: bool = False,
) -> Iterator[SimCall]:
    """Conversations in start order, one per start second (a paired shape takes two starts).

    With ``complex_share`` 0 no extra random draw is made: the output is the historical one.
    ``busy`` draws the busy-day shapes too, and callers from ``phones`` when given.
    """
    pbx = _pbx(token)
    ts = _timestamps(day)
    dirty_p = _dirty_probability(dirty_share)
    if not 0.0 <= complex_share <= 1.0:
        raise ValueError("complex_share must be in [0, 1]")
    seq = first_seq
    state = _State(phones)
    if not complex_share:
        for s0 in starts:
            seq += rng.randint(1, 3)
            yield _build_call(rng, pbx, day, ts, s0, seq, dirty_p, state=state)
        return
    if busy:  # every call first: whether rule 3 can place a forward depends on the others
        built = list(_iter_complex(rng, pbx, day, ts, starts, seq, dirty_p, complex_share, state,
                                   _BUSY_COMPLEX_SHAPES, _BUSY_COMPLEX_WEIGHTS))
        yield from _mark_ambiguous_forwards(built)
        return
    yield from _iter_complex(rng, pbx, day, ts, starts, seq, dirty_p, complex_share, state,
                             _COMPLEX_SHAPES, _COMPLEX_WEIGHTS)


def _iter_complex(
    rng: random.Random, pbx: _Pbx, day: date, ts: Sequence[str], starts: Sequence[int], seq: int,
    dirty_p: float, complex_share: float, state: _State, shapes: Sequence[str],
    weights: Sequence[float],
) -> Iterator[SimCall]:
    """The conversations of :func:`_iter_calls` with complex shapes on, in start order."""
    simple_answered = _simple_answered_share(complex_share)
    pending: list[tuple[int, int, SimCall]] = []  # built, not yet yielded (may start later)
    order = itertools.count()
    i, n = 0, len(starts)
    while i < n:
        s0 = starts[i]
        i += 1
        while pending and pending[0][0] <= s0:
            yield heapq.heappop(pending)[2]
        seq += rng.randint(1, 3)
        made: list[SimCall]
        if rng.random() < complex_share:
            shape = rng.choices(shapes, weights)[0]
            if shape in _PAIRED:
                if i >= n:
                    shape = "attended_transfer"
                else:
                    i += 1  # the second conversation takes the next start's place
            made = _build_complex(rng, pbx, day, s0, seq, dirty_p, shape, state)
            seq = max(int(uid.rsplit(".", 1)[1]) for call in made for uid in call.legs)
        else:
            made = [_build_call(rng, pbx, day, ts, s0, seq, dirty_p, simple_answered, state)]
        for call in made:
            heapq.heappush(pending, (call.start_second, next(order), call))
    while pending:
        yield heapq.heappop(pending)[2]


def _local_target(channel: str) -> str:
    """``Local/<target>@<context>-<n>;1`` -> ``<target>``."""
    return channel.removeprefix("Local/").split("@", 1)[0]


def _mark_ambiguous_forwards(calls: list[SimCall]) -> list[SimCall]:
    """SPEC §4.2 rule 3 over the whole day: a forwarding leg joins its call only when exactly one
    call whose own channels dial its target is open (its linked rows span the leg's first row);
    otherwise its legs are ``loose`` - stored without a call. Only a busy day reuses a mobile
    while a forward to it is open, so only a busy day needs this."""
    dialling: dict[str, list[tuple[int, int]]] = defaultdict(list)  # target -> spans of callers
    forwards: list[tuple[int, str, int]] = []  # (call index, target, first second)
    for index, call in enumerate(calls):
        link = dict(call.links)
        placed = {uid for uid, kind in link.items() if kind != "forwarding"}
        own = {uid for uid, kind in link.items() if kind in ("primary", "bridge")}
        seconds = [e.second for e in call.events if e.uniqueid in placed]
        targets = {x for e in call.events if e.event == "dial" and e.uniqueid in own
                   for x in _norm_exts(e.body["Extensions"])}
        for target in targets:
            dialling[target].append((min(seconds), max(seconds)))
        moved = [e for e in call.events if link.get(e.uniqueid) == "forwarding"]
        if moved:
            channel = next(e.body["Channel"] for e in moved if "Channel" in e.body)
            forwards.append((index, _local_target(channel), min(e.second for e in moved)))
    out = list(calls)
    for index, target, begun in forwards:
        if sum(first <= begun <= last for first, last in dialling[target]) == 1:
            continue
        call = out[index]
        loose = tuple(uid for uid, kind in call.links if kind == "forwarding")
        out[index] = replace(call, loose=loose,
                             links=tuple(item for item in call.links if item[0] not in loose))
    return out


def _simple_answered_share(complex_share: float) -> float:
    """Answered share of the simple calls that keeps the day's at ``ANSWERED_SHARE``.

    Why: nearly every complex shape is answered (~96%), and the seed's headline figure is about
    conversations; with the default share about 22% of them are complex.
    """
    conv = complex_share * 1.1 / (1.0 + 0.1 * complex_share)
    if conv >= 1.0:
        return ANSWERED_SHARE
    return max(0.05, (ANSWERED_SHARE - conv * 0.96) / (1.0 - conv))


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
        status: str | None
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
    complex_share: float = COMPLEX_SHARE, busy: bool = False,
) -> DayFileSummary:
    """Create (or overwrite) one complete day file in a single fast transaction.

    ``complex_share`` is the share of start slots given to a multi-UniqueId conversation shape
    (SPEC §2.3, see :data:`SHAPES`); 0 gives the historical file of one UniqueId per call. The
    summary's ``conversations`` hold each conversation's ground truth.

    UniqueId sequence numbers start just above ``start_id``; give files that end up in the same
    central database distinct ``start_id`` ranges if they share a day (``simulate_fleet`` does).
    ``live_share_undelivered`` is the share of events whose first AlternativeAPIlogs delivery
    failed (a failure is followed by a ``"''"`` retry row half of the time).
    ``busy``: the busy day of the module docstring (``calls`` conversations at once).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_file(path)
    rng = random.Random(f"day|{seed}|{token}|{day.isoformat()}|{start_id}")
    api_maker = _RowMaker(random.Random(f"api|{seed}|{token}|{day}"), False, 0.0)
    alt_maker = _RowMaker(random.Random(f"alt|{seed}|{token}|{day}"), True, live_share_undelivered)
    alt2_maker = _RowMaker(random.Random(f"alt2|{seed}|{token}|{day}"), True, 0.5)
    ts = _timestamps(day)

    phones: tuple[str, ...] = ()
    if busy:
        starts, phones = _busy_starts(rng, calls)
    else:
        starts = _start_seconds(rng, calls)
    tally = [0, 0, 0]  # conversations, answered, UniqueIds with a hangup
    shapes: dict[str, int] = {}
    truth: list[SimCall] = []

    def counted(source: Iterable[SimCall]) -> Iterator[SimCall]:
        for call in source:
            tally[0] += 1
            tally[1] += call.answered
            tally[2] += len({e.uniqueid for e in call.events
                             if e.event == "hangup" and e.uniqueid})
            shapes[call.shape] = shapes.get(call.shape, 0) + 1
            truth.append(replace(call, events=()))
            yield call

    stream = _interleave(counted(_iter_calls(rng, token, day, starts, start_id, dirty_share,
                                             complex_share, phones, busy)))

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
    return DayFileSummary(path, _enterprise_of(path), day, tally[0], tally[1], counts, dirty_rows,
                          tally[2], shapes, tuple(truth))


def _enterprise_of(path: Path) -> str:
    return path.parent.name


def truth_path(day_file: Path) -> Path:
    """``Listen_AMI_<day>.truth.jsonl`` beside the day file (no reader takes it for a day file)."""
    day_file = Path(day_file)
    return day_file.with_name(day_file.name.removesuffix(".db") + ".truth.jsonl")


def write_truth(day_file: Path, conversations: Iterable[SimCall]) -> Path:
    """One JSON line per conversation (:meth:`SimCall.truth`), in start order."""
    path = truth_path(day_file)
    with path.open("w", encoding="utf-8") as out:
        for call in conversations:
            out.write(json.dumps(call.truth(), ensure_ascii=False) + "\n")
    return path


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
    start_id: int = 0, first_second: int | None = None, complex_share: float = COMPLEX_SHARE,
    busy: bool = False,
) -> list[SimCall]:
    """Generate calls without writing them (for split writes with :func:`append_events`).

    Calls start after local second ``first_second`` (default: spread over the whole day) and
    their UniqueId sequence numbers are above ``start_id``. ``complex_share`` as in
    :func:`write_day_file`; each returned conversation carries its ground truth. ``busy``: the
    busy day (its starts from 10:00; ``first_second`` is then ignored).
    """
    rng = random.Random(f"plan|{seed}|{token}|{day.isoformat()}|{start_id}|{first_second}")
    if busy:
        starts, phones = _busy_starts(rng, calls)
        return list(_iter_calls(rng, token, day, starts, start_id, dirty_share, complex_share,
                                phones, busy=True))
    if first_second is None:
        starts = _start_seconds(rng, calls)
    else:
        remaining = max(1, _LAST_SECOND - first_second)
        gap = max(1.0, min(90.0, remaining / (calls + 1)))
        starts, s = [], float(first_second)
        for _ in range(calls):
            s += rng.expovariate(1.0 / gap)
            starts.append(min(_LAST_SECOND, int(s) + 1))
    return list(_iter_calls(rng, token, day, starts, start_id, dirty_share, complex_share))


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
    not_before: int | None = None, min_id: int = 0, complex_share: float = COMPLEX_SHARE,
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
                         start_id=max(max_seq, min_id), first_second=first,
                         complex_share=complex_share)
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
    seed: int = 1, dirty_share: float = 0.01, complex_share: float = COMPLEX_SHARE,
    busy: bool = False, truth: bool = False,
) -> list[DayFileSummary]:
    """``days`` day files per enterprise up to ``end_date`` inclusive, in ``outdir/<number>/``.

    Each enterprise gets its own UniqueId sequence range, so no two calls of the fleet share a
    UniqueId. Returned in (enterprise, day) order. ``busy``: every day is a busy day of
    ``calls_per_day`` conversations; ``truth``: each day file gets its ground truth beside it.
    """
    per_day = calls_per_day * (3 if not complex_share else 5) + 10  # UniqueIds per day, at most
    stride = max(10**6, days * per_day)
    out: list[DayFileSummary] = []
    for index, enterprise in enumerate(enterprises):
        token = token_for(enterprise)
        for k in range(days):
            day = end_date - timedelta(days=days - 1 - k)
            summary = write_day_file(
                day_file_path(Path(outdir), enterprise, day), token=token, day=day,
                calls=calls_per_day, seed=seed, dirty_share=dirty_share,
                start_id=index * stride + k * per_day, complex_share=complex_share, busy=busy,
            )
            if truth:
                write_truth(summary.path, summary.conversations)
            out.append(replace(summary, enterprise=enterprise))
    return out
