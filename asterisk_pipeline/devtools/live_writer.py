"""The demo's live writer: complete calls in today's files that follow the PBX clock.

Why a writer of its own: appending whole calls at once ran ahead of the clock. A call's rows span
minutes (its hangup comes at its end) and the next append started after the file's last row, so
within 13 minutes today's files reached 23:59:59 while the PBX clock read 21:35, and every later
call piled onto 23:59:59. This writer plans each tick's calls to start between its previous tick
and now, and holds every row back until the clock has reached its time: no row is ever later
than the PBX's current time, and the calls keep spreading over the day as the clock moves. A
call still going at midnight ends in its own day's file (its last rows at 23:59:59).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from .calls import SimCall
from .fleet import day_file_path, token_for
from .live import append_events, file_state
from .plan import plan_calls
from .rows import connect

#: The PBX's local time now (naive, or aware in the PBX's zone: only the wall time is used).
Clock = Callable[[], datetime]

#: Live files of each enterprise get their own UniqueId range, far from the history ranges.
LIVE_ID_BASE = 9 * 10**8
LIVE_ID_STRIDE = 10**7
#: The first tick's calls start within this many seconds before now.
FIRST_WINDOW_S = 300


class LiveWriter:
    """Appends calls to ``<logs>/<enterprise>/Listen_AMI_<today>.db`` as the clock moves on.

    Each :meth:`tick` plans new calls for every enterprise that start between the previous tick
    and now, then writes every planned row whose time has come, one INSERT and one COMMIT per
    row (``commit_every_row``) like the listener. UniqueIds start in the enterprise's own live
    range, above every id already in the file (a demo restarted the same day).
    """

    def __init__(
        self, logs: Path, enterprises: Sequence[str], clock: Clock, *, dirty_share: float = 0.01,
        commit_every_row: bool = True,
    ) -> None:
        self.logs = Path(logs)
        self.enterprises = tuple(enterprises)
        self.clock = clock
        self.dirty_share = dirty_share
        self.commit_every_row = commit_every_row
        self.ticks = 0
        self._since: datetime | None = None  # the local time the previous tick reached
        self._next_id = {number: LIVE_ID_BASE + index * LIVE_ID_STRIDE
                         for index, number in enumerate(self.enterprises)}
        self._seen: set[tuple[str, date]] = set()  # (enterprise, day) files whose ids were read
        self._pending: dict[str, list[SimCall]] = {n: [] for n in self.enterprises}

    def tick(self, calls: Callable[[int, int], int] | None = None) -> int:
        """Plan this tick's calls (``calls(tick, index)`` per enterprise; default 1-3) and write
        every row that is due. Returns the rows written."""
        now = self.clock().replace(tzinfo=None, microsecond=0)
        self.ticks += 1
        since = self._since or now - timedelta(seconds=FIRST_WINDOW_S)
        self._since = now
        start = max(since, datetime.combine(now.date(), datetime.min.time()))
        written = 0
        for index, number in enumerate(self.enterprises):
            count = calls(self.ticks, index) if calls else 1 + (self.ticks + index) % 3
            if count > 0 and start <= now:
                self._plan(number, start, now, count, seed=self.ticks * 100 + index)
            written += self._write_due(number, now)
        return written

    def pending_rows(self) -> int:
        """Planned rows not written yet (their time has not come)."""
        return sum(len(call.events) for calls in self._pending.values() for call in calls)

    def _plan(self, number: str, start: datetime, now: datetime, count: int, seed: int) -> None:
        """``count`` calls of ``now``'s day starting between ``start`` and ``now``."""
        day = now.date()
        if (number, day) not in self._seen:  # ids above every one the file already holds
            self._seen.add((number, day))
            path = day_file_path(self.logs, number, day)
            if path.exists():
                con = connect(path)
                try:
                    max_seq, _ = file_state(con, day)
                finally:
                    con.close()
                self._next_id[number] = max(self._next_id[number], max_seq)
        planned = plan_calls(token=token_for(number), day=day, calls=count, seed=seed,
                             dirty_share=self.dirty_share, start_id=self._next_id[number],
                             first_second=_second(start), last_second=_second(now))
        self._next_id[number] = max(
            self._next_id[number], *(int(uid.rsplit(".", 1)[1]) for c in planned for uid in c.legs))
        self._pending[number].extend(planned)

    def _write_due(self, number: str, now: datetime) -> int:
        """Write the rows whose local time is not after ``now``; keep the rest for later."""
        today, second = now.date(), _second(now)
        due: dict[date, list[SimCall]] = {}
        later: list[SimCall] = []
        for call in self._pending[number]:
            if call.day < today:
                now_rows, rest = list(call.events), []
            elif call.day > today:  # a clock that went back: wait for it
                now_rows, rest = [], list(call.events)
            else:
                now_rows = [e for e in call.events if e.second <= second]
                rest = [e for e in call.events if e.second > second]
            if now_rows:
                due.setdefault(call.day, []).append(replace(call, events=tuple(now_rows)))
            if rest:
                later.append(replace(call, events=tuple(rest)))
        self._pending[number] = later
        written = 0
        for day, calls in sorted(due.items()):
            written += append_events(
                day_file_path(self.logs, number, day), calls, seed=self.ticks,
                commit_every_row=self.commit_every_row)
        return written


def _second(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second
