"""The demo's live writer over a simulated hour: no row is ever later than the PBX clock, and the
calls keep spreading over the hour (the old writer reached 23:59:59 within 13 minutes of a 21:22
start, then piled every call onto 23:59:59). The clock is injected; nothing sleeps."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from asterisk_pipeline.devtools.fleet import day_file_path
from asterisk_pipeline.devtools.live_writer import LIVE_ID_BASE, LiveWriter
from asterisk_pipeline.devtools.rows import TIME_FORMAT

ENTERPRISES = ("0100", "0327")


class FakeClock:
    """The PBX's wall clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _rows(path: Path) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as con:
        return [r for table in ("APIlogs", "AlternativeAPIlogs")
                for r in con.execute(f"SELECT DateTime, event, Uniqueid, request FROM {table}")]


def _newest(path: Path) -> datetime:
    """The latest DateTime in the file (today's file exists from the first tick)."""
    with closing(sqlite3.connect(path)) as con:
        found = [con.execute(f"SELECT MAX(DateTime) FROM {t}").fetchone()[0]
                 for t in ("APIlogs", "AlternativeAPIlogs")]
    return max(datetime.strptime(when, TIME_FORMAT) for when in found)


def _times(rows: list[tuple[Any, ...]]) -> Iterator[datetime]:
    for when, *_ in rows:
        try:
            yield datetime.strptime(when, TIME_FORMAT)
        except (TypeError, ValueError):
            continue  # a dirty row's DateTime is still the event's second; no None expected



def test_an_hour_of_live_calls_never_runs_ahead_of_the_clock(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 7, 3, 21, 22, 0))
    writer = LiveWriter(tmp_path, ENTERPRISES, clock, commit_every_row=False)
    writer.tick()
    for _ in range(180):  # an hour of 20-second ticks, as the demo's default
        clock.now += timedelta(seconds=20)
        writer.tick()
        for number in ENTERPRISES:
            path = day_file_path(tmp_path, number, clock.now.date())
            newest = _newest(path)
            assert newest <= clock.now, f"{path.name}: a row at {newest}, the clock at {clock.now}"
    end = clock.now
    for number in ENTERPRISES:
        rows = _rows(day_file_path(tmp_path, number, end.date()))
        times = sorted(_times(rows))
        assert times[-1] <= end and times[-1] > end - timedelta(minutes=5)  # it kept up
        # the calls keep spreading: every 10 minutes of the hour saw new calls start
        starts = {}
        for when, _, uid, _ in rows:
            if uid and "." in uid and uid not in starts:
                starts[uid] = datetime.strptime(when, TIME_FORMAT)
        assert len(starts) > 100
        begin = end - timedelta(hours=1)
        buckets = {int((s - begin).total_seconds() // 600) for s in starts.values() if s >= begin}
        assert buckets == set(range(6)), sorted(buckets)
        assert not any(t.time() == datetime.max.time().replace(microsecond=0) for t in times)
        # ids in the enterprise's live range, distinct across calls
        seqs = [int(uid.split(".")[1]) for uid in starts]
        assert min(seqs) > LIVE_ID_BASE
    assert writer.pending_rows() > 0  # calls in progress hold their later rows back


def test_calls_going_at_midnight_end_in_their_own_day(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 7, 3, 23, 40, 0))
    writer = LiveWriter(tmp_path, ENTERPRISES, clock, commit_every_row=False)
    for _ in range(60):  # 23:40 -> 00:40, a tick a minute
        clock.now += timedelta(minutes=1)
        writer.tick()
    for number in ENTERPRISES:
        before = _rows(day_file_path(tmp_path, number, date(2025, 7, 3)))
        after = _rows(day_file_path(tmp_path, number, date(2025, 7, 4)))
        assert before and after
        assert all(t.date() == date(2025, 7, 3) for t in _times(before))
        assert all(date(2025, 7, 4) == t.date() and t <= clock.now for t in _times(after))
        # every call started before midnight got its hangup into the old day's file
        hung = {uid for _, event, uid, _ in before if event == "hangup"}
        started = {uid for _, event, uid, _ in before if event == "start"}
        assert started and started <= hung


def test_a_restarted_demo_continues_above_the_files_ids(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 7, 3, 10, 0, 0))
    first = LiveWriter(tmp_path, ENTERPRISES, clock, commit_every_row=False)
    for _ in range(10):
        clock.now += timedelta(seconds=30)
        first.tick()
    path = day_file_path(tmp_path, ENTERPRISES[0], clock.now.date())
    old = {uid for _, _, uid, _ in _rows(path) if uid}
    again = LiveWriter(tmp_path, ENTERPRISES, clock, commit_every_row=False)
    for _ in range(10):
        clock.now += timedelta(seconds=30)
        again.tick()
    rows = _rows(path)
    new = {uid for _, _, uid, _ in rows if uid} - old
    assert new and min(int(u.split(".")[1]) for u in new) > max(int(u.split(".")[1]) for u in old)
    bodies = [json.loads(r[3]) for r in rows if r[3] and r[3].startswith("{")]
    assert all(b.get("Token") == "100100" for b in bodies if isinstance(b, dict) and "Token" in b)
