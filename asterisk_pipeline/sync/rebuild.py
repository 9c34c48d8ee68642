"""``calls rebuild``: re-assemble the conversations of stored days (SPEC §4.2, §4.3).

One transaction per (enterprise, day, table), so a killed rebuild leaves every day either as it
was or rebuilt, and running it again gives the same result. The rows come from the warehouse's
sightings (each event's own row and the other rows of ``event_sightings``); a day stored by a
version without sightings (``unsighted_days``) reads its events — and, since that version
collapsed identical APIlogs bridge bodies into one event, the day file itself when one is at
hand (the history cache, a local mirror or the PBX). Days rebuilt without the file whose rows
show a lost bridge entry are reported as not exact.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from ..classified import sighting_row
from ..conversations import ConvRow, conv_row
from ..model import BEFORE_FIRST_ROW, LIVE_TABLE, Enterprise, Event, Flow
from ..normalize import classify_row
from ..pbx.files import DayFile, SourceError
from ..pbx.fleet import Fleet
from ..pbx.transport import TransportError
from ..warehouse import conversation_store as store
from ..warehouse.db import lock_enterprise, write_transaction
from ..warehouse.events import CallIds
from ..warehouse.registry import get_enterprise
from ..warehouse.staging import Stager
from ..warehouse.stats import DayRange
from .importer import (
    ImportRequest,
    WriteTarget,
    maintain_missed,
    settle,
    stored_conv_row,
)

log = logging.getLogger("asterisk_pipeline.sync.rebuild")


@dataclass
class DayRebuild:
    enterprise: str
    file_date: str
    table: str
    rows: int = 0
    new_calls: int = 0
    recomputed_calls: int = 0
    source: str = "warehouse"  # 'warehouse' | 'day file' | 'events (previous version)'
    not_exact: list[str] = field(default_factory=list)  # primary UniqueIds
    seconds: float = 0.0


@dataclass(frozen=True)
class RebuildScope:
    """Which stored days a rebuild covers (one enterprise or all, a range of days or all) and
    whether it may replay day files at hand (else: the warehouse's own rows only)."""

    enterprise: str | None = None
    days: DayRange = field(default_factory=DayRange)
    use_files: bool = True


EVERY_DAY = RebuildScope()


def rebuild_calls(
    engine: Engine, fleet: Fleet, scope: RebuildScope = EVERY_DAY, *,
    progress: Callable[[DayRebuild, int, int], None] | None = None,
) -> list[DayRebuild]:
    """Rebuild every stored day in the scope; ``progress(day, done, total)`` after each."""
    with engine.connect() as conn:
        days = store.stored_days(conn, scope.enterprise, scope.days.first, scope.days.last)
        numbers = sorted({d[0] for d in days})
        known = {n: get_enterprise(conn, n) for n in numbers}
    reports = []
    for done, (number, day, table) in enumerate(days, start=1):
        ent = known.get(number) or Enterprise(number)
        flow = Flow.LIVE if table == LIVE_TABLE else Flow.HISTORY
        request = ImportRequest(ent, flow, day, fleet.timezone(ent), live_import_all=fleet.settings.live_import_all,
                                missed_window=fleet.settings.missed_window)
        report = _rebuild_day(engine, fleet, request, scope.use_files)
        reports.append(report)
        if progress is not None:
            progress(report, done, len(days))
    return reports


def _rebuild_day(engine: Engine, fleet: Fleet, request: ImportRequest, use_files: bool) -> DayRebuild:
    began = time.monotonic()
    enterprise, flow, day, table = request.enterprise, request.flow, request.file_date, request.flow.table
    report = DayRebuild(enterprise.number, day.isoformat(), table)
    with write_transaction(engine) as conn:
        lock_enterprise(conn, enterprise.number)
        stager = Stager(conn)
        if store.is_unsighted(conn, enterprise.number, day, table):
            _key_events(stager, request)
            replayed = _replay_day_file(stager, fleet, request) if use_files else False
            report.source = "day file" if replayed else "events (previous version)"
            store.mark_sighted(conn, enterprise.number, day, table)
        rows = [
            seen for stored in store.SightingReader(stager, enterprise.number, table, day, 0)
            .rows_of_day() for seen in [stored_conv_row(stored, flow is Flow.LIVE)] if seen is not None
        ]
        report.rows = len(rows)
        touched = {r.unique_id for r in rows}
        # rows of this day are the "current read": everything else is gathered around them
        target = WriteTarget(stager, request, CallIds(conn, enterprise.number))
        report.new_calls, report.recomputed_calls = settle(target, rows, touched)
        maintain_missed(target)
        if report.source == "events (previous version)":
            lost = _lost_bridge_entries(rows)
            owners = store.leg_owners(stager, enterprise.number, lost)
            report.not_exact = sorted({o.call_unique_id or uid for uid in lost
                                       for o in [owners.get(uid)] if o is not None})
        stager.drop()
    report.seconds = round(time.monotonic() - began, 3)
    log.info(
        "rebuilt enterprise=%s date=%s table=%s rows=%d new_calls=%d recomputed=%d source=%s "
        "not_exact=%d seconds=%.2f", report.enterprise, report.file_date, table, report.rows,
        report.new_calls, report.recomputed_calls, report.source, len(report.not_exact), report.seconds,
    )
    return report


def _key_events(stager: Stager, request: ImportRequest) -> None:
    """The conversation keys an import gives an event's own row, onto the events of a day
    stored before ``call_events`` carried them."""
    live = request.flow is Flow.LIVE
    keys = []
    for event_id, stored in store.own_rows_of_day(stager, request.enterprise.number, request.file_date,
                                                   request.flow.table):
        seen = stored_conv_row(stored, live)
        if seen is not None:
            sighting = sighting_row(seen, b"")
            if sighting[6] is not None or sighting[7] is not None:
                keys.append((event_id, sighting[6], sighting[7]))
    store.set_conversation_keys(stager, keys)


def _replay_day_file(stager: Stager, fleet: Fleet, request: ImportRequest) -> bool:
    """Sightings of every row of the day file that is not its event's own row, when the file
    can be had; False otherwise."""
    enterprise, day, table = request.enterprise, request.file_date, request.flow.table
    settings = fleet.settings
    try:
        pbx = fleet.pbx(enterprise)
        transport = pbx.transport()
        try:
            copy = transport.local_copy(day, pbx.cache_dir)
        finally:
            transport.close()
        path: Path = copy.path
        chunks = DayFile(path, busy_timeout_s=settings.sqlite_busy_timeout_s).read_rows(
            table, BEFORE_FIRST_ROW, settings.read_chunk_rows, settings.read_chunk_bytes
        )
        sightings = []
        for chunk in chunks:
            for row in chunk:
                outcome = classify_row(row, request.tz, day)
                if type(outcome) is not Event:
                    continue
                seen = conv_row(outcome, (day, outcome.source_id), request.flow is Flow.LIVE)
                if seen is not None:
                    sightings.append(sighting_row(seen, outcome.body_hash))
    except (SourceError, TransportError, OSError, ValueError) as exc:
        log.warning("rebuild of %s %s without its day file: %s", enterprise.number, day, exc)
        return False
    store.forget_sightings_above(stager.conn, enterprise.number, table, day, BEFORE_FIRST_ROW)
    store.record_sightings(stager, enterprise.number, table, day, sightings)
    return True


def _lost_bridge_entries(rows: list[ConvRow]) -> list[str]:
    """UniqueIds whose channel left more bridges than its surviving entries show: a previous
    version collapsed identical ``bridge`` bodies (no BridgeUniqueid in APIlogs) into one."""
    entries: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for row in rows:
        if row.kind == "bridge" and row.bridge_id is None:
            entries[row.unique_id] += 1
        elif row.kind == "bridge_leave":
            leaves[row.unique_id] += 1
    return sorted(uid for uid in entries if leaves[uid] > entries[uid])
