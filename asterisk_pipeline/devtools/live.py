"""Rows added to an existing day file the way the live listener adds them: one INSERT and one
COMMIT per row, rollback journal - so that readers can be tested against a file being written.

:func:`append_calls` plans fresh calls after the file's last row and writes them;
:func:`append_events` writes (some of) the events of planned calls, e.g. everything but the
hangups now and the hangups in a later cycle. Hand-made rows: :func:`.rows.append_rows`.
"""
from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple, Required, Self, TypedDict, Unpack

from .calls import COMPLEX_SHARE, LAST_SECOND, SimCall, SimEvent
from .delivery import RowMaker, request_texts
from .plan import DaySpec, plan_day
from .rows import (
    ALL_API_TABLES,
    INSERT,
    check_table,
    connect,
    day_timestamps,
    ensure_api_tables,
    existing_tables,
)


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


def file_state(con: sqlite3.Connection, day: date) -> tuple[int, int | None]:
    """(highest UniqueId sequence number, last local second of ``day``) over the API tables."""
    max_seq = 0
    last: int | None = None
    have = existing_tables(con)
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


class WriteArgs(TypedDict, total=False):
    """The keyword form of :class:`Writing`."""

    tables: tuple[str, ...]
    commit_every_row: bool
    live_share_undelivered: float
    seed: int


@dataclass(frozen=True)
class Writing:
    """How appended rows are written: each event to every table in ``tables`` (APIlogs first),
    one INSERT + COMMIT per row (``commit_every_row``) or one transaction, with
    ``live_share_undelivered`` of the Alternative deliveries failed; ``seed`` seeds the
    delivery statuses."""

    tables: tuple[str, ...] = ("APIlogs", "AlternativeAPIlogs")
    commit_every_row: bool = True
    live_share_undelivered: float = 0.9
    seed: int = 0


class AppendArgs(TypedDict, total=False):
    """What :func:`append_calls` takes besides where to start: the day (as :class:`.plan.DaySpec`
    without ``start_id`` and ``busy``) and the :class:`Writing` options (its seed is the day's)."""

    token: Required[str]
    day: Required[date]
    calls: Required[int]
    seed: Required[int]
    dirty_share: float
    complex_share: float
    tables: tuple[str, ...]
    commit_every_row: bool
    live_share_undelivered: float


def append_calls(
    path: Path, *, only_events: tuple[str, ...] | None = None, not_before: int | None = None,
    min_id: int = 0, **options: Unpack[AppendArgs],
) -> AppendResult:
    """Append complete new calls after the file's last row, as the live listener would.

    ``options``: ``token``, ``day``, ``calls``, ``seed`` and optionally ``dirty_share`` (default
    0), ``complex_share`` (as :func:`.dayfile.write_day_file`) and the :class:`Writing` options
    ``tables``, ``commit_every_row``, ``live_share_undelivered``.
    UniqueIds are fresh (sequence numbers above every one in the file and above ``min_id``) and
    the calls start after the file's latest ``DateTime`` of ``day`` (08:00 in a new or empty
    file), and not before local second ``not_before`` (a writer following the clock). With
    ``only_events`` only those event types are written now; the returned result's ``calls`` keep
    every event, so the rest can be written later with :func:`append_events`.
    Returns the total rows appended (an ``int``; ``.per_table`` has the split per table).
    """
    path = Path(path)
    default = Writing()
    writing = Writing(tables=options.get("tables", default.tables),
                      commit_every_row=options.get("commit_every_row", default.commit_every_row),
                      live_share_undelivered=options.get("live_share_undelivered",
                                                         default.live_share_undelivered),
                      seed=options["seed"])
    day = options["day"]
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        ensure_api_tables(con, dict.fromkeys((*ALL_API_TABLES, *writing.tables)))
        max_seq, last = file_state(con, day)
    finally:
        con.close()
    first = (8 * 3600 if not_before is None else 0) if last is None else last
    if not_before is not None:
        first = max(first, min(not_before, LAST_SECOND - 1))
    spec = DaySpec(token=options["token"], day=day, calls=options["calls"], seed=options["seed"],
                   dirty_share=options.get("dirty_share", 0.0),
                   complex_share=options.get("complex_share", COMPLEX_SHARE),
                   start_id=max(max_seq, min_id))
    planned = plan_day(spec, first_second=first)
    return _append(path, _picked(planned, only_events, ()), planned, writing)


def append_events(
    path: Path, calls: Sequence[SimCall], *, only_events: Iterable[str] | None = None,
    exclude_events: Iterable[str] = (), **writing: Unpack[WriteArgs],
) -> AppendResult:
    """Write (some of) the events of planned calls, time-ordered, one INSERT + COMMIT per row.

    Each event goes to every table in ``tables`` (APIlogs first), like the listener that tries
    both webhooks (``writing``: the :class:`Writing` options). E.g. write everything but the
    hangups now and the hangups in a later cycle.
    """
    return _append(Path(path), _picked(calls, only_events, exclude_events), calls,
                   Writing(**writing))


class _Picked(NamedTuple):
    """The events to write, time-ordered, and the selection they were picked by."""

    events: list[tuple[SimEvent, date]]
    key: str  # seeds the row makers: the same selection of the same calls, the same rows


def _picked(
    calls: Sequence[SimCall], only_events: Iterable[str] | None, exclude_events: Iterable[str],
) -> _Picked:
    wanted = None if only_events is None else set(only_events)
    skipped = set(exclude_events)
    picked = [
        (ev.second, i, ev, call.day)
        for i, (call, ev) in enumerate((c, e) for c in calls for e in c.events)
        if (wanted is None or ev.event in wanted) and ev.event not in skipped
    ]
    picked.sort(key=lambda item: (item[3], item[0], item[1]))
    key = f"{calls[0].unique_id if calls else ''}|{sorted(wanted or [])}|{sorted(skipped)}"
    return _Picked([(ev, ev_day) for _, _, ev, ev_day in picked], key)


def _append(
    path: Path, picked: _Picked, calls: Sequence[SimCall], writing: Writing,
) -> AppendResult:
    """Write the picked events' rows into every table of ``writing``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = writing.tables
    key = f"{writing.seed}|{picked.key}"
    makers: dict[str, RowMaker] = {}
    for name in tables:
        check_table(name)
        makers[name] = RowMaker(random.Random(f"append|{name}|{key}"), name != "APIlogs",
                                 writing.live_share_undelivered)
    per_table = {name: 0 for name in tables}
    dirty_rows = 0
    con = connect(path)
    try:
        ensure_api_tables(con, dict.fromkeys((*ALL_API_TABLES, *tables)))
        if not writing.commit_every_row:
            con.execute("BEGIN")
        inserts = {name: INSERT.format(name=name) for name in tables}
        for ev, ev_day in picked.events:
            api_text, alt_text = request_texts(ev)
            when = day_timestamps(ev_day)[ev.second]
            for name in tables:
                rows = makers[name].rows(ev, api_text if name == "APIlogs" else alt_text, when)
                for row in rows:
                    con.execute(inserts[name], row)  # autocommit: one COMMIT per row
                per_table[name] += len(rows)
                if ev.dirty:
                    dirty_rows += len(rows)
        if not writing.commit_every_row:
            con.execute("COMMIT")
    finally:
        con.close()
    return AppendResult(per_table, calls, dirty_rows)
