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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from .calls import COMPLEX_SHARE, LAST_SECOND, SimCall, SimEvent, epoch_of_midnight
from .delivery import RowMaker, request_texts
from .plan import busy_starts, iter_calls, start_seconds
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
    api_maker = RowMaker(random.Random(f"api|{seed}|{token}|{day}"), False, 0.0)
    alt_maker = RowMaker(random.Random(f"alt|{seed}|{token}|{day}"), True, live_share_undelivered)
    alt2_maker = RowMaker(random.Random(f"alt2|{seed}|{token}|{day}"), True, 0.5)
    ts = day_timestamps(day)

    phones: tuple[str, ...] = ()
    if busy:
        starts, phones = busy_starts(rng, calls)
    else:
        starts = start_seconds(rng, calls)
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

    stream = _interleave(counted(iter_calls(rng, token, day, starts, start_id, dirty_share,
                                             complex_share, phones, busy)))

    counts = {name: 0 for name in (*ALL_API_TABLES, *_OTHER_DDL)}
    dirty_rows = 0
    con = connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        for name in ALL_API_TABLES:
            con.execute(API_DDL.format(name=name))
        for ddl in _OTHER_DDL.values():
            con.execute(ddl)
        ins_api = INSERT.format(name="APIlogs")
        ins_alt = INSERT.format(name="AlternativeAPIlogs")
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
                api_text, alt_text = request_texts(ev)
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
        con.executemany(INSERT.format(name="Alternative2APIlogs"), alt2_rows)
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
