"""Whole day files in one fast transaction (:func:`write_day_file`), for fixtures and benchmarks.

110,000 calls, ~0.9 M APIlogs rows and ~2.1 M rows in all, in about 16 s with
``complex_share=0``; the default conversation shapes add about 25% rows and time. The file is
left as the PBX leaves it: the real tables (with ScriptEvents and AMIEventLog, which the pipeline
never reads) in rollback-journal mode.
"""
from __future__ import annotations

import heapq
import itertools
import random
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple, Unpack

from .calls import LAST_SECOND, SimCall, SimEvent, epoch_of_midnight
from .delivery import RowMaker, request_texts
from .plan import DayArgs, DaySpec, busy_starts, iter_calls, start_seconds
from .rows import ALL_API_TABLES, API_DDL, INSERT, connect, day_timestamps

_OTHER_DDL = {
    "ScriptEvents": (
        "CREATE TABLE ScriptEvents (id INTEGER PRIMARY KEY, DateTime, script, level, message)"
    ),
    "AMIEventLog": (
        "CREATE TABLE AMIEventLog (id INTEGER PRIMARY KEY, DateTime, Event, Uniqueid, Data)"
    ),
}


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


def _remove_file(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


#: The share of malformed rows of a day file unless told (a plan's default is none).
DAY_FILE_DIRTY_SHARE = 0.01


def write_day_file(
    path: Path, *, live_share_undelivered: float = 0.9, **day: Unpack[DayArgs],
) -> DayFileSummary:
    """Create (or overwrite) one complete day file in a single fast transaction.

    ``day``: the :class:`.plan.DaySpec` fields - ``token``, ``day``, ``calls``, ``seed`` and the
    options ``dirty_share`` (default 0.01 here), ``start_id``, ``complex_share``, ``busy``.

    ``complex_share`` is the share of start slots given to a multi-UniqueId conversation shape
    (SPEC §2.3, see :data:`SHAPES`); 0 gives the historical file of one UniqueId per call. The
    summary's ``conversations`` hold each conversation's ground truth.

    UniqueId sequence numbers start just above ``start_id``; give files that end up in the same
    central database distinct ``start_id`` ranges if they share a day (``simulate_fleet`` does).
    ``live_share_undelivered`` is the share of events whose first AlternativeAPIlogs delivery
    failed (a failure is followed by a ``"''"`` retry row half of the time).
    ``busy``: the busy day of the module docstring (``calls`` conversations at once).
    """
    day.setdefault("dirty_share", DAY_FILE_DIRTY_SHARE)
    spec = DaySpec(**day)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_file(path)
    token, when = spec.token, spec.day
    rng = random.Random(f"day|{spec.seed}|{token}|{when.isoformat()}|{spec.start_id}")
    makers = _Makers(
        RowMaker(random.Random(f"api|{spec.seed}|{token}|{when}"), False, 0.0),
        RowMaker(random.Random(f"alt|{spec.seed}|{token}|{when}"), True, live_share_undelivered),
        RowMaker(random.Random(f"alt2|{spec.seed}|{token}|{when}"), True, 0.5),
    )
    phones: tuple[str, ...] = ()
    if spec.busy:
        starts, phones = busy_starts(rng, spec.calls)
    else:
        starts = start_seconds(rng, spec.calls)
    tally = _Tally()
    stream = _interleave(tally.counted(iter_calls(rng, spec, starts, phones)))
    con = connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        for name in ALL_API_TABLES:
            con.execute(API_DDL.format(name=name))
        for ddl in _OTHER_DDL.values():
            con.execute(ddl)
        counts, dirty_rows = _write_events(con, stream, makers, day_timestamps(when))
        counts.update(_write_side_tables(con, rng, token, when))
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=FULL")
    finally:
        con.close()
    return DayFileSummary(path, _enterprise_of(path), when, tally.calls, tally.answered, counts,
                          dirty_rows, tally.hangup_uids, tally.shapes, tuple(tally.truth))


@dataclass
class _Tally:
    """What the summary counts while the conversations stream past."""

    calls: int = 0
    answered: int = 0
    hangup_uids: int = 0  # UniqueIds with a hangup
    shapes: dict[str, int] = field(default_factory=dict)
    truth: list[SimCall] = field(default_factory=list)

    def counted(self, source: Iterable[SimCall]) -> Iterator[SimCall]:
        for call in source:
            self.calls += 1
            self.answered += call.answered
            self.hangup_uids += len({e.uniqueid for e in call.events
                                     if e.event == "hangup" and e.uniqueid})
            self.shapes[call.shape] = self.shapes.get(call.shape, 0) + 1
            self.truth.append(replace(call, events=()))
            yield call


class _Makers(NamedTuple):
    """One row maker per webhook-log table (each with its own generator)."""

    api: RowMaker
    alt: RowMaker
    alt2: RowMaker


def _write_events(
    con: sqlite3.Connection, stream: Iterator[SimEvent], makers: _Makers, ts: Sequence[str],
) -> tuple[dict[str, int], int]:
    """Every event's rows in chunks (only the first dozen go to Alternative2APIlogs too);
    returns (rows per table, malformed rows)."""
    counts = {name: 0 for name in (*ALL_API_TABLES, *_OTHER_DDL)}
    dirty_rows = 0
    ins_api = INSERT.format(name="APIlogs")
    ins_alt = INSERT.format(name="AlternativeAPIlogs")
    alt2_rows: list[tuple[Any, ...]] = []
    chunk_size = 20_000
    api_rows_of, alt_rows_of = makers.api.rows, makers.alt.rows
    while chunk := list(itertools.islice(stream, chunk_size)):
        api_rows: list[tuple[Any, ...]] = []
        alt_rows: list[tuple[Any, ...]] = []
        for ev in chunk:
            api_text, alt_text = request_texts(ev)
            when = ts[ev.second]
            a = api_rows_of(ev, api_text, when)
            b = alt_rows_of(ev, alt_text, when)
            api_rows += a
            alt_rows += b
            if ev.dirty:
                dirty_rows += len(a) + len(b)
            if len(alt2_rows) < 12:
                c = makers.alt2.rows(ev, alt_text, when)
                alt2_rows += c
                if ev.dirty:
                    dirty_rows += len(c)
        con.executemany(ins_api, api_rows)
        con.executemany(ins_alt, alt_rows)
        counts["APIlogs"] += len(api_rows)
        counts["AlternativeAPIlogs"] += len(alt_rows)
    con.executemany(INSERT.format(name="Alternative2APIlogs"), alt2_rows)
    counts["Alternative2APIlogs"] = len(alt2_rows)
    return counts, dirty_rows


def _enterprise_of(path: Path) -> str:
    return path.parent.name


def _write_side_tables(
    con: sqlite3.Connection, rng: random.Random, token: str, day: date
) -> dict[str, int]:
    """A few rows in ScriptEvents and AMIEventLog, which the pipeline never imports."""
    ts = day_timestamps(day)
    script = [
        (ts[1], "Listen_AMI.py", "INFO", f"listener started, token {token}"),
        (ts[2], "Listen_AMI.py", "INFO", "connected to AMI 127.0.0.1:5038"),
        (ts[rng.randrange(3600, 80_000)], "Listen_AMI.py", "WARNING",
         "webhook http://10.88.10.19:8001/webhook: timeout, will retry"),
        (ts[LAST_SECOND], "Listen_AMI.py", "INFO", "rotating database"),
    ]
    con.executemany("INSERT INTO ScriptEvents (DateTime, script, level, message) VALUES (?,?,?,?)",
                    script)
    ami = [
        (ts[1], "FullyBooted", "", "Privilege: system,all\r\nStatus: Fully Booted"),
        (ts[rng.randrange(3600, 80_000)], "PeerStatus", "",
         '{"Peer": "SIP/201", "PeerStatus": "Registered"}'),
        (ts[rng.randrange(3600, 80_000)], "VarSet", f"{epoch_of_midnight(day) + 40_000}.1",
         "Variable: QUEUE|Value: Отдел продаж"),
    ]
    con.executemany(
        "INSERT INTO AMIEventLog (DateTime, Event, Uniqueid, Data) VALUES (?,?,?,?)", ami
    )
    return {"ScriptEvents": len(script), "AMIEventLog": len(ami)}
