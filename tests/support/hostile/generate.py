"""Hostile Listen_AMI day files (issue 18), one per input class, and what SPEC says must follow.

Every file carries a few good conversations around its bad rows, so "what can be kept is kept"
is checkable: the good rows' events, their times and their calls are part of the expectation.
Files are written with the suite's one Listen_AMI builder (``tests.support.factories``); this module
only decides what goes into them and what the importer must make of it (SPEC §2.1, §3, §4.1–4.3):

- ``rows``: each source row's fate — ``event``, ``reject`` or ``either`` (SPEC leaves the choice,
  e.g. a 990-deep body that one importer can encode and another cannot); never both, never none;
- ``event_times``: the ``call_events.event_timestamp`` a kept row must get (NULL when its
  ``DateTime`` does not parse or is implausible, §4.2);
- ``calls``: conversations that must exist, with their start, end and duration (§4.2, times more
  than a day away from the file's date count as unparsable);
- for a file that cannot be read: the failed status and the error kinds that fit (§4.1).

``python -m tests.support.hostile.generate DIR [--bench]`` writes every file under DIR to look at.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tests.support.factories import (
    COLUMNS,
    ROW_NAMES,
    RawText,
    Row,
    append,
    body,
    create_day_file,
    hangup,
    insert_rows,
    row,
)

DAY = date(2025, 7, 3)
FILE_NAME = f"Listen_AMI_{DAY.isoformat()}.db"
TZ = ZoneInfo("Europe/Minsk")  # the default PBX zone (SPEC §3)
TABLES = {"history": "APIlogs", "live": "AlternativeAPIlogs"}
MAX_ID = 2**63 - 1
MIN_ID = -(2**63)

Outcome = Literal["event", "reject", "either"]


@dataclass(frozen=True)
class Size:
    """How big the big classes are: CI keeps them small, the benchmark does not."""

    huge_rows: int
    huge_bytes: int
    deep: int = 100_000


CI_SIZE = Size(huge_rows=2, huge_bytes=1_500_000)
QUICK_SIZE = Size(huge_rows=4, huge_bytes=2_000_000)
BENCH_SIZE = Size(huge_rows=20, huge_bytes=10_000_000)


@dataclass(frozen=True)
class CallTimes:
    """A call that must exist, with its times in UTC (None = NULL)."""

    start: datetime | None
    end: datetime | None
    duration: int | None


@dataclass(frozen=True)
class Expected:
    status: Literal["success", "failed"]
    # For a failure: the kinds that fit (pbx/files.py SourceErrorKind values).
    error_kinds: frozenset[str] = frozenset()
    rows: Mapping[int, Outcome] = field(default_factory=dict)
    event_times: Mapping[int, datetime | None] = field(default_factory=dict)
    calls: Mapping[str, CallTimes] = field(default_factory=dict)
    call_status: Mapping[str, str] = field(default_factory=dict)
    # WAL: success with every row, or a recorded failure of one of these kinds; never a short read.
    or_failed_with: frozenset[str] = frozenset()
    # Import the file a second time: nothing new, nothing duplicated in the tables.
    reimport: bool = False


@dataclass(frozen=True)
class HostileFile:
    name: str
    flow: str
    path: Path
    expected: Expected
    about: str


# ---------------------------------------------------------------------------------------------
# Times: SPEC §4.2's rule, written here independently of the package


_STRICT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\Z", re.ASCII)
EARLIEST = datetime.combine(DAY - timedelta(days=1), datetime.min.time())
LATEST = datetime.combine(DAY + timedelta(days=2), datetime.min.time())  # exclusive


def plausible_utc(value: Any) -> datetime | None:
    """A PBX-local ``'YYYY-MM-DD HH:MM:SS'`` no more than one day before or after the file's
    date, in UTC; anything else (malformed, not text, implausible) is None."""
    if type(value) is not str or not _STRICT.match(value):
        return None
    try:
        local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if not EARLIEST <= local < LATEST:
        return None
    return local.replace(tzinfo=TZ).astimezone(UTC)


def window_utc() -> tuple[datetime, datetime]:
    """The plausible window in UTC: every time the warehouse stores for these files lies in it."""
    return EARLIEST.replace(tzinfo=TZ).astimezone(UTC), LATEST.replace(tzinfo=TZ).astimezone(UTC)


def call_times(start: Any, received: Any, end: Any) -> CallTimes:
    """start = StartTime, else DateReceived; end = EndTime; duration NULL when either is NULL
    or negative (SPEC §4.2)."""
    begin = plausible_utc(start) or plausible_utc(received)
    finish = plausible_utc(end)
    duration = None
    if begin is not None and finish is not None and finish >= begin:
        duration = int((finish - begin).total_seconds())
    return CallTimes(begin, finish, duration)


def local(hour: int, minute: int = 0, second: int = 0) -> str:
    return f"{DAY.isoformat()} {hour:02d}:{minute:02d}:{second:02d}"


# ---------------------------------------------------------------------------------------------
# One day file: rows, each with its fate


class _Day:
    def __init__(self, flow: str) -> None:
        self.flow = flow
        self.table = TABLES[flow]
        # A live call is created only when its hangup was not delivered (SPEC §4.1).
        self.hangup_status = "<Response [200]>" if flow == "history" else "Timeout"
        self.rows: list[tuple[Row, Outcome]] = []
        self.calls: dict[str, CallTimes] = {}
        self.call_status: dict[str, str] = {}
        self._good = 0
        self._bad = 0

    def good(self) -> None:
        """One plain answered call: a dial and its hangup, times inside the file's day."""
        k = self._good
        self._good += 1
        uid = f"{1751526000 + k}.{k + 1}"
        began = datetime.combine(DAY, datetime.min.time()) + timedelta(hours=6, minutes=3 * k)
        start = began.strftime("%Y-%m-%d %H:%M:%S")
        end = (began + timedelta(seconds=100)).strftime("%Y-%m-%d %H:%M:%S")
        self.add(row("dial", uid, at=start, Phone="+375291112233", Extensions=["201"], CallType=0,
                     Trunk="trunk1"), "event")
        self.add(hangup(uid, at=end, start=start, end=end, status=self.hangup_status), "event")
        self.calls[uid] = call_times(start, start, end)
        self.call_status[uid] = "2"

    def uid(self) -> str:
        """A fresh UniqueId for a bad row's own conversation."""
        self._bad += 1
        return f"{1751530000 + self._bad}.{900 + self._bad}"

    def add(self, values: Row, outcome: Outcome) -> None:
        self.rows.append((values, outcome))

    def bad_hangup(self, outcome: Outcome, *, start: Any = None, received: Any = None, end: Any = None,
                   at: Any = None, uid: str | None = None, expect_call: bool = True,
                   **fields: Any) -> str:
        """A hangup of its own conversation; when it is an event, its call must exist."""
        uid = uid or self.uid()
        start = local(11) if start is None else start
        received = start if received is None else received
        end = local(11, 2) if end is None else end
        values = hangup(uid, at=local(11, 2) if at is None else at, status=self.hangup_status,
                        start=start, end=end, DateReceived=received, **fields)
        self.add(values, outcome)
        if outcome == "event" and expect_call:
            self.calls[uid] = call_times(start, received, end)
        return uid

    def write(self, path: Path, *, ids: list[int] | None = None, columns: str = COLUMNS) -> Expected:
        create_day_file(path, tables=(self.table,), columns=columns)
        written = append(path, [values for values, _ in self.rows], table=self.table, ids=ids)
        return self.expected(written)

    def expected(self, ids: list[int], **extra: Any) -> Expected:
        outcomes = {row_id: outcome for row_id, (_, outcome) in zip(ids, self.rows, strict=True)}
        times = {
            row_id: plausible_utc(values[0])
            for row_id, (values, outcome) in zip(ids, self.rows, strict=True)
            if outcome == "event" and type(values[0]) is str
        }
        return Expected("success", rows=outcomes, event_times=times, calls=dict(self.calls),
                        call_status=dict(self.call_status), **extra)


def _with_raw(fields: Mapping[str, Any], raw_key: str, raw_json: str) -> str:
    """A body whose value at ``raw_key`` is written as raw JSON text (nesting, escapes)."""
    text = body(**fields)
    return f'{text[:-1]}, "{raw_key}": {raw_json}}}'


def _failed(*kinds: str) -> Expected:
    return Expected("failed", error_kinds=frozenset(kinds))


# ---------------------------------------------------------------------------------------------
# The input classes. Each writes into ``root`` and returns what to import and what must follow.

Builder = Callable[[Path, Size, str], HostileFile]


def _deep(name: str, opener: str, closer: str, depth: int, outcome: Outcome) -> Builder:
    def build(root: Path, size: Size, flow: str) -> HostileFile:
        n = size.deep if depth == 0 else depth
        day = _Day(flow)
        day.good()
        nested = opener * n + "1" + closer * n
        for event in ("hangup", "dial"):
            uid = day.uid()
            fields = {"UniqueId": uid, "Phone": "+375291112233", "Extensions": ["201"], "CallType": 0,
                      "StartTime": local(11), "DateReceived": local(11), "EndTime": local(11, 1),
                      "CallStatus": "2"}
            day.add((local(11, 1), event, uid, _with_raw(fields, "Deep", nested), day.hangup_status),
                    outcome)
        # The body itself nested (an array at the top: not an object whatever the depth).
        day.add((local(11, 2), "dial", day.uid(), "[" * n + "]" * n, "ok"), "reject")
        day.good()
        path = root / FILE_NAME
        return HostileFile(name, flow, path, day.write(path),
                           f"bodies nested {n + 1} deep ({opener}…{closer}) between good calls")
    return build


def build_huge_bodies(root: Path, size: Size, flow: str) -> HostileFile:
    day = _Day(flow)
    day.good()
    pad = ("0123456789abcdefж" * (size.huge_bytes // 17 + 1))[: size.huge_bytes]
    for i in range(size.huge_rows):
        uid = day.uid()
        if i % 2:
            day.bad_hangup("event", uid=uid, Pad=pad)
        else:
            day.add(row("dial", uid, at=local(11, 0, i % 60), Extensions=["201"], Pad=pad), "event")
    # A huge body cut short: invalid JSON, rejected with its raw text.
    day.add((local(11, 3), "dial", day.uid(), body(Pad=pad)[:-3], "ok"), "reject")
    day.good()
    path = root / FILE_NAME
    return HostileFile("huge_bodies", flow, path, day.write(path),
                       f"{size.huge_rows} bodies of {size.huge_bytes / 1e6:.1f} MB and one cut short")


def build_nul_bytes(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    uid = day.uid()
    day.add(row("dial", uid, at=local(11) + "\x00", Extensions=["201"]), "event")
    day.add(row("dial\x00x", day.uid(), at=local(11, 1), Extensions=["201"]), "event")
    clean = day.uid()  # the column holds it with a NUL, the body without
    day.add((local(11, 2), "hangup", clean + "\x00",
             body(UniqueId=clean, CallStatus="2", StartTime=local(11), EndTime=local(11, 2)),
             day.hangup_status), "event")
    day.add(row("dial", day.uid(), at=local(11, 3), status="ok\x00", Extensions=["201"]), "event")
    # Raw NUL inside a JSON string (a control character) and after the object: not JSON.
    day.add((local(11, 4), "dial", day.uid(), '{"Token": "1", "X": "a\x00b"}', "ok"), "reject")
    day.add((local(11, 5), "dial", day.uid(), '{"Token": "1"}\x00', "ok"), "reject")
    # Escaped NUL: valid JSON that PostgreSQL's jsonb cannot hold.
    day.bad_hangup("either", Note="a\u0000b")
    day.add((local(11, 6), "dial", day.uid(), '{"Token": "1", "K\\u0000": 1}', "ok"), "either")
    everywhere = day.uid()
    day.add((local(11, 7) + "\x00", "hangup\x00", everywhere + "\x00",
             body(UniqueId=everywhere + "\x00", Phone="\x00", Extensions=["\x00"], CallType="\x00",
                  StartTime=local(11) + "\x00", EndTime="\x00", CallStatus="2\x00"),
             "\x00"), "either")
    day.good()
    path = root / FILE_NAME
    return HostileFile("nul_bytes", flow, path, day.write(path),
                       "NUL in every column, raw and escaped in bodies")


def build_invalid_utf8(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    day.add((RawText(local(11).encode() + b"\xff"), "dial", day.uid(), body(Extensions=["201"]), "ok"),
            "either")
    day.add((local(11, 1), RawText(b"dial\xff"), day.uid(), body(Extensions=["201"]), "ok"), "either")
    uid = day.uid()
    day.add((local(11, 2), "hangup", RawText(uid.encode() + b"\xc3"),
             body(UniqueId=uid, CallStatus="2", StartTime=local(11), EndTime=local(11, 2)),
             day.hangup_status), "either")
    day.add((local(11, 3), "dial", day.uid(), RawText(b'{"Token": "1", "X": "\xff\xfe"}'), "ok"), "reject")
    day.add((local(11, 4), "dial", day.uid(), body(Extensions=["201"]), RawText(b"ok\xff")), "either")
    day.good()
    path = root / FILE_NAME
    return HostileFile("invalid_utf8", flow, path, day.write(path),
                       "invalid UTF-8 stored as TEXT in every column, between good calls")


def build_lone_surrogates(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    surrogate = b"\xed\xa0\x80"  # U+D800 as a lax encoder writes it: not UTF-8
    for raw in ('"\\ud800"', '"x\\udc00\\ud800y"', '["\\udfff"]'):
        uid = day.uid()
        day.add((local(11), "hangup", uid, _with_raw({"UniqueId": uid, "CallStatus": "2"}, "Note", raw),
                 day.hangup_status), "reject")
    day.add((local(11, 1), "dial", day.uid(), '{"Token": "1", "K\\ud800": 1}', "ok"), "reject")
    # A hangup whose only UniqueId is a lone surrogate.
    day.add((local(11, 1), "hangup", "", '{"Token": "1", "UniqueId": "\\ud800", "CallStatus": "2"}',
             day.hangup_status), "reject")
    # A valid pair is text like any other.
    day.bad_hangup("event", Note="\U0001F600")
    day.add((local(11, 2), "dial", day.uid(), '{"Token": "1", "Note": "\\ud83d\\ude00"}', "ok"), "event")
    day.add((local(11, 3), "dial", day.uid(), RawText(b'{"Token": "1", "X": "' + surrogate + b'"}'), "ok"),
            "reject")
    day.add((RawText(local(11, 4).encode() + surrogate), "dial", day.uid(), body(Extensions=["201"]), "ok"),
            "either")
    day.add((local(11, 4), RawText(b"dial" + surrogate), day.uid(), body(Extensions=["201"]), "ok"), "either")
    day.add((local(11, 4), "dial", RawText(surrogate), body(Extensions=["201"]), "ok"), "either")
    day.add((local(11, 4), "dial", day.uid(), body(Extensions=["201"]), RawText(b"ok" + surrogate)),
            "either")
    day.good()
    path = root / FILE_NAME
    return HostileFile("lone_surrogates", flow, path, day.write(path),
                       "lone surrogates: \\ud800 escapes in bodies, raw in every column")


def build_typed_values(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    ok_body = body(Extensions=["201"])
    # DateTime: REAL, INTEGER, BLOB, infinity — not text, so no event time; the row is an event.
    for value in (1751526000, 1751526000.5, b"2025-07-03 10:00:00", float("inf"), -(2**63)):
        day.add((value, "dial", day.uid(), ok_body, "ok"), "event")
    # event: any name is stored as is (SPEC §4.1).
    for value in (42, 4.5, b"dial", 2**63 - 1):
        day.add((local(11), value, day.uid(), ok_body, "ok"), "event")
    # Uniqueid: numbers and bytes that name a conversation; a hangup's call is filed under them.
    int_uid = day.uid().split(".")[0]
    day.add((local(11, 2), "hangup", int(int_uid),
             body(UniqueId=int_uid, CallStatus="2", StartTime=local(11), EndTime=local(11, 2)),
             day.hangup_status), "event")
    day.calls[int_uid] = call_times(local(11), None, local(11, 2))
    day.add((local(11, 2), "dial", 1751526000.25, ok_body, "ok"), "event")
    day.add((local(11, 2), "dial", b"1751526000.77", ok_body, "ok"), "event")
    day.add((local(11, 2), "dial", float("-inf"), ok_body, "ok"), "event")
    # request: only a JSON object as text is a body.
    for request in (42, 4.5, 0, float("inf"), 2**63 - 1, None, b"\xff\x00{", b"[1, 2]"):
        day.add((local(11, 3), "dial", day.uid(), request, "ok"), "reject")
    day.add((local(11, 3), "dial", day.uid(), ok_body.encode(), "ok"), "either")
    # status: a number, bytes or infinity is a status that is not delivered-text.
    for value in (200, 2.0, b"ok", float("inf")):
        day.add((local(11, 4), "dial", day.uid(), ok_body, value), "event")
    # Every column at once.
    day.add((7, 8.5, 9, ok_body.encode(), b"\x00"), "either")
    day.good()
    path = root / FILE_NAME
    return HostileFile("typed_values", flow, path, day.write(path),
                       "INTEGER/REAL/BLOB where text is expected, in every column")


def build_odd_body_fields(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    odd: dict[str, Any] = {
        "StartTime": 0, "EndTime": [], "DateReceived": {}, "CallType": None, "CallStatus": 2.5,
        "Extensions": {"a": 1}, "Phone": 1e308, "Trunk": False,
    }
    for key, value in odd.items():
        uid = day.uid()
        fields = {"UniqueId": uid, "Phone": "+375291112233", "Extensions": ["201"], "CallType": 0,
                  "DateReceived": local(11), "StartTime": local(11), "EndTime": local(11, 1),
                  "CallStatus": "2", "Trunk": "trunk1", key: value}
        day.add((local(11, 1), "hangup", uid, body(**fields), day.hangup_status), "event")
        day.calls[uid] = call_times(fields["StartTime"], fields["DateReceived"], fields["EndTime"])
    # Body UniqueId as a number, the column blank: the hangup still has a UniqueId.
    day.add((local(11, 2), "hangup", "", body(UniqueId=1751539999, CallStatus="2", StartTime=local(11),
                                               EndTime=local(11, 2)), day.hangup_status), "event")
    day.calls["1751539999"] = call_times(local(11), None, local(11, 2))
    # Blank everywhere (spaces, null): rejected (SPEC §4.1).
    day.add((local(11, 2), "hangup", "  ", body(UniqueId=None, CallStatus="2"), day.hangup_status), "reject")
    day.add((local(11, 2), "dial", day.uid(), '{"Token": "1", "CallType": NaN}', "ok"), "reject")
    day.add((local(11, 2), "dial", day.uid(), '{"Token": "1", "x": 1e400}', "ok"), "either")
    day.good()
    path = root / FILE_NAME
    return HostileFile("odd_body_fields", flow, path, day.write(path),
                       "hangup fields of every JSON type; NaN and overflowing numbers")


FAR = ("0001-01-01 00:00:00", "1900-01-01 00:00:00", "9999-12-31 23:59:59")
EDGE_OUT = ("2025-07-01 23:59:59", "2025-07-05 00:00:00")  # a day and a second outside
EDGE_IN = ("2025-07-02 00:00:00", "2025-07-04 23:59:59")  # the last plausible seconds


def build_far_dates(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    # The DateTime column far away: the event stays, its time is NULL.
    for stamp in (*FAR, *EDGE_OUT, *EDGE_IN):
        day.add(row("dial", day.uid(), at=stamp, Extensions=["201"]), "event")
    day.bad_hangup("event", at=FAR[0])
    day.bad_hangup("event", at=FAR[2])
    # The body's times (StartTime, DateReceived, EndTime).
    good_start, good_end = local(11), local(11, 2)
    for start, received, end in (
        (FAR[0], FAR[0], good_end), (good_start, good_start, FAR[2]), (FAR[1], local(11, 0, 5), good_end),
        (FAR[2], FAR[2], FAR[0]), (FAR[0], FAR[1], FAR[2]), (EDGE_OUT[0], EDGE_OUT[0], good_end),
        (good_start, good_start, EDGE_OUT[1]), (EDGE_IN[0], EDGE_IN[0], EDGE_IN[1]),
        (good_end, good_end, good_start), ("", FAR[0], good_end), ("", EDGE_IN[0], good_end),
    ):
        day.bad_hangup("event", start=start, received=received, end=end)
    # A conversation whose dial and bridge rows are far away (participants' times, answered_at).
    uid = day.uid()
    day.add(row("dial", uid, at=FAR[0], Phone="+375291112233", Extensions=["201"], CallType=0), "event")
    day.add(row("bridge", uid, at=FAR[2], Channel="SIP/trunk1-00000001", CallerIDNum="+375291112233",
                ConnectedLineNum="201", BridgeUniqueid="b-far"), "event")
    day.add(row("bridge_leave", uid, at=FAR[1], Channel="SIP/trunk1-00000001", CallerIDNum="+375291112233",
                ConnectedLineNum="201", BridgeUniqueid="b-far", BridgeNumChannels="1"), "event")
    day.bad_hangup("event", uid=uid, at=FAR[2])
    day.good()
    path = root / FILE_NAME
    return HostileFile("far_dates", flow, path, day.write(path),
                       "years 1, 1900, 9999 and a day+1s outside, in DateTime and in hangup times")


def build_hangup_huge_ints(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    for call_type, call_status in ((2**70, 10**30), (-(2**63) - 1, 2**64), (10**400, -(10**20)),
                                   ("99999999999999999999999", "18446744073709551617")):
        uid = day.bad_hangup("event", CallType=call_type, CallStatus=call_status)
        day.call_status[uid] = str(call_status)
    uid = day.uid()
    day.add(row("bridge_leave", uid, at=local(11, 3), Channel="SIP/201-00000002", CallerIDNum="201",
                ConnectedLineNum="+375291112233", BridgeUniqueid="b-huge", BridgeNumChannels=2**80), "event")
    # More digits than Python parses by default (4300): SPEC leaves reject or keep.
    day.add((local(11, 4), "hangup", day.uid(), '{"Token": "1", "CallType": ' + "9" * 5000 + "}",
             day.hangup_status), "either")
    day.good()
    path = root / FILE_NAME
    return HostileFile("hangup_huge_ints", flow, path, day.write(path),
                       "hangups with CallType/CallStatus beyond 64 bits")


def _ids(name: str, ids: list[int]) -> Builder:
    def build(root: Path, size: Size, flow: str) -> HostileFile:
        del size
        day = _Day(flow)
        day.good()
        for i in range(len(ids) - 4):
            day.add(row("dial", day.uid(), at=local(11, i), Extensions=["201"]), "event")
        day.good()
        path = root / FILE_NAME
        expected = day.write(path, ids=ids)
        return HostileFile(name, flow, path, _with(expected, reimport=True),
                           f"row ids {min(ids)} … {max(ids)}; imported twice")
    return build


def _with(expected: Expected, **changes: Any) -> Expected:
    return replace(expected, **changes)


def _bad_ids(name: str, bad: Any) -> Builder:
    """An ``id`` column declared without INTEGER PRIMARY KEY, holding a non-integer."""
    def build(root: Path, size: Size, flow: str) -> HostileFile:
        del size
        day = _Day(flow)
        day.good()
        day.good()
        path = root / FILE_NAME
        table = day.table
        create_day_file(path, tables=(table,), columns=COLUMNS.replace("id INTEGER PRIMARY KEY", "id"))
        values = [values for values, _ in day.rows]
        insert_rows(path, table, ("id", *ROW_NAMES), [(1, *values[0]), (2, *values[1]),
                                                       (bad, *values[2]), (4, *values[3])])
        return HostileFile(name, flow, path, _failed("unreadable"), f"an id of {bad!r} among integers")
    return build


def build_extra_columns(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    day.good()
    path = root / FILE_NAME
    expected = day.write(path, columns=COLUMNS + ', extra1, "weird name" TEXT, Alternative INTEGER')
    return HostileFile("extra_columns", flow, path, expected, "three columns more than the PBX writes")


def build_missing_unused_columns(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    day.good()
    path = root / FILE_NAME
    columns = "id INTEGER PRIMARY KEY, DateTime, event, Uniqueid, request, status"
    create_day_file(path, tables=(day.table,), columns=columns)
    ids = insert_rows(path, day.table, ROW_NAMES, [values for values, _ in day.rows])
    return HostileFile("missing_unused_columns", flow, path, day.expected(ids),
                       "no response / responseTime columns (never read)")


def build_missing_request_column(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    path = root / FILE_NAME
    columns = "id INTEGER PRIMARY KEY, DateTime, event, Uniqueid, status, response, responseTime"
    create_day_file(path, tables=(day.table,), columns=columns)
    insert_rows(path, day.table, ("DateTime", "event", "Uniqueid", "status"),
                [(v[0], v[1], v[2], v[4]) for v, _ in day.rows])
    return HostileFile("missing_request_column", flow, path, _failed("unreadable"),
                       "the table has no request column")


def build_view(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    path = root / FILE_NAME
    create_day_file(path, tables=("RealLogs",))
    append(path, [values for values, _ in day.rows], table="RealLogs")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"CREATE VIEW {day.table} AS SELECT * FROM RealLogs")
        conn.commit()
    return HostileFile("view_instead_of_table", flow, path, _failed("unreadable"),
                       f"{day.table} is a view over another table")


def build_wal(root: Path, size: Size, flow: str) -> HostileFile:
    """A PBX file in WAL mode copied with its -wal while the writer still held it open: the
    -wal holds rows the main file does not (never checkpointed)."""
    del size
    day = _Day(flow)
    day.good()
    writer_dir = root / "writer"
    source = writer_dir / FILE_NAME
    create_day_file(source, tables=(day.table,))
    first = append(source, [values for values, _ in day.rows], table=day.table)
    with closing(sqlite3.connect(source)) as holder:
        assert holder.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        holder.execute("PRAGMA wal_autocheckpoint=0")
        holder.execute(f"SELECT count(*) FROM {day.table}").fetchone()
        before = len(day.rows)
        day.good()
        day.good()
        later = append(source, [values for values, _ in day.rows[before:]], table=day.table)
        path = root / FILE_NAME
        shutil.copyfile(source, path)
        shutil.copyfile(f"{source}-wal", f"{path}-wal")
    shutil.rmtree(writer_dir)
    assert os.path.getsize(f"{path}-wal") > 0
    expected = day.expected(first + later, or_failed_with=frozenset({"corrupt", "unreadable", "locked"}))
    return HostileFile("wal_uncheckpointed", flow, path, expected,
                       "WAL mode, half the rows only in the uncheckpointed -wal")


def build_zero_byte(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    path = root / FILE_NAME
    path.touch()
    return HostileFile("zero_byte", flow, path, _failed("no_table"), "an empty file (day rollover)")


def build_directory(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    path = root / FILE_NAME
    path.mkdir()
    return HostileFile("directory", flow, path, _failed("missing_file", "unreadable"),
                       "a directory where the file should be")


def build_fifo(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    path = root / FILE_NAME
    os.mkfifo(path)
    return HostileFile("fifo", flow, path, _failed("missing_file", "unreadable"),
                       "a FIFO where the file should be (opening it for reading would block)")


def build_symlink_good(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    day.good()
    day.good()
    target = root / "elsewhere" / "copy.db"
    expected = day.write(target)
    path = root / FILE_NAME
    path.symlink_to(target)
    return HostileFile("symlink_good", flow, path, expected, "a symlink to a good file")


def build_symlink_dangling(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    path = root / FILE_NAME
    path.symlink_to(root / "gone" / FILE_NAME)
    return HostileFile("symlink_dangling", flow, path, _failed("missing_file"), "a dangling symlink")


def build_empty_table(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    path = root / FILE_NAME
    create_day_file(path)
    return HostileFile("empty_table", flow, path, Expected("success"), f"{TABLES[flow]} has no rows")


def build_garbage(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    path = root / FILE_NAME
    path.write_bytes(bytes(range(256)) * 64)
    return HostileFile("garbage_file", flow, path, _failed("corrupt"), "16 KB that are not SQLite")


def build_truncated(root: Path, size: Size, flow: str) -> HostileFile:
    del size
    day = _Day(flow)
    for _ in range(150):
        day.good()
    path = root / FILE_NAME
    create_day_file(path, tables=(day.table,))
    insert_rows(path, day.table, ROW_NAMES, [values for values, _ in day.rows], commit_each=False)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    return HostileFile("truncated_file", flow, path, _failed("corrupt"),
                       "a file cut in half (cannot be read to the end)")


CASES: dict[str, Builder] = {
    "deep_object_990": _deep("deep_object_990", '{"a":', "}", 989, "either"),
    "deep_array_990": _deep("deep_array_990", "[", "]", 989, "either"),
    "deep_object_100k": _deep("deep_object_100k", '{"a":', "}", 0, "reject"),
    "deep_array_100k": _deep("deep_array_100k", "[", "]", 0, "reject"),
    "huge_bodies": build_huge_bodies,
    "nul_bytes": build_nul_bytes,
    "invalid_utf8": build_invalid_utf8,
    "lone_surrogates": build_lone_surrogates,
    "typed_values": build_typed_values,
    "odd_body_fields": build_odd_body_fields,
    "far_dates": build_far_dates,
    "hangup_huge_ints": build_hangup_huge_ints,
    "ids_nonpositive": _ids("ids_nonpositive", [MIN_ID, -5, 0, 1, 2, 3, 4]),
    "ids_near_max": _ids("ids_near_max", [1, 2, *range(MAX_ID - 3, MAX_ID + 1)]),
    "text_ids": _bad_ids("text_ids", "abc"),
    "real_ids": _bad_ids("real_ids", 2.5),
    "null_ids": _bad_ids("null_ids", None),
    "extra_columns": build_extra_columns,
    "missing_unused_columns": build_missing_unused_columns,
    "missing_request_column": build_missing_request_column,
    "view_instead_of_table": build_view,
    "wal_uncheckpointed": build_wal,
    "zero_byte": build_zero_byte,
    "directory": build_directory,
    "fifo": build_fifo,
    "symlink_good": build_symlink_good,
    "symlink_dangling": build_symlink_dangling,
    "empty_table": build_empty_table,
    "garbage_file": build_garbage,
    "truncated_file": build_truncated,
}

# Every class through the history flow; the row-level ones through the live flow too (a live
# call exists only without a delivered hangup, so these take another path through the writer).
LIVE_TOO = ("nul_bytes", "invalid_utf8", "lone_surrogates", "typed_values", "far_dates",
            "hangup_huge_ints", "ids_nonpositive", "deep_object_990", "empty_table", "wal_uncheckpointed")
RUNS: tuple[tuple[str, str], ...] = (
    *((name, "history") for name in CASES), *((name, "live") for name in LIVE_TOO)
)


def build(name: str, flow: str, root: Path, size: Size = CI_SIZE) -> HostileFile:
    """Write the file of one input class into the empty directory ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return CASES[name](root, size, flow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--bench", action="store_true", help="benchmark sizes (20 bodies of 10 MB)")
    args = parser.parse_args()
    for name, flow in RUNS:
        made = build(name, flow, args.directory / f"{name}-{flow}", BENCH_SIZE if args.bench else CI_SIZE)
        print(f"{made.name:24} {made.flow:8} {made.path}  {made.about}")


if __name__ == "__main__":
    main()
