"""Syncs that reach the PBXes: one enterprise's live window or history day, and the fleet cycle.

Each enterprise gets one transport (one SSH connection) per sync. A live sync fetches the rows
above the cursor (``sqlite3`` on the PBX; an SFTP copy when it has none) *before* opening the
database transaction, so a slow PBX never holds the central database's write lock. The fleet
cycle runs enterprises concurrently up to ``ASTERISK_SSH_MAX_SESSIONS``; one slow or failing
host costs only its own worker.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, and_, select

from ..fleet import Fleet, FleetConfigError
from ..model import BEFORE_FIRST_ROW, Enterprise, Flow, SourceRow, SyncCounts
from ..pbx.files import DayFile, values_bytes
from ..pbx.transport import NoRemoteSqlite, Transport, TransportError, TransportErrorKind
from ..settings import Settings
from ..warehouse.cursors import read_cursor
from ..warehouse.registry import active_enterprises
from ..warehouse.schema import sync_runs
from .sources import Anchors, FetchedRows, FileRows, anchors_from, replaced_reason
from .unit import SyncOutcome, failure_of, new_run_record, record_failure, run_import

log = logging.getLogger("asterisk_pipeline.sync.fleet")

# After the PBX's midnight the listener may still finish yesterday's last rows.
MIDNIGHT_GRACE = timedelta(minutes=2)
# A PBX clock further off than this is not believed (the central clock and the zone rule).
MAX_CLOCK_SKEW = timedelta(hours=24)


@dataclass
class CycleReport:
    """What one live cycle over the fleet did."""

    started_at: datetime
    seconds: float = 0.0
    outcomes: list[SyncOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[SyncOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def bytes_transferred(self) -> int:
        return sum(o.bytes_transferred for o in self.outcomes)


def live_days(
    now: datetime, fleet: Fleet, enterprise: Enterprise, engine: Engine,
    pbx_now: datetime | None = None,
) -> list[date]:
    """SPEC §4.6: the PBX's own today, and yesterday until it was read in full after midnight.

    ``pbx_now`` is the PBX's own clock when it told (``Transport.pbx_clock``): a PBX hours ahead
    of or behind the central server writes the file of *its* date, so that date is today, and
    its midnight, moved onto the central clock (``sync_runs.started_at``), ends yesterday.
    """
    tz = fleet.timezone(enterprise)
    skew = (pbx_now - now) if pbx_now is not None else timedelta(0)
    if abs(skew) > MAX_CLOCK_SKEW:
        log.warning("%s: the PBX clock is %s off the central clock; not believed",
                    enterprise.number, skew)
        skew = timedelta(0)
    local_now = (now + skew).astimezone(tz)
    today = local_now.date()
    pbx_midnight = datetime.combine(today, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    midnight_utc = pbx_midnight - skew  # the PBX's midnight on the central clock
    with engine.connect() as conn:
        done = conn.execute(
            select(sync_runs.c.id).where(
                and_(
                    sync_runs.c.enterprise_id == enterprise.number,
                    sync_runs.c.flow == Flow.LIVE.value,
                    sync_runs.c.file_date == today - timedelta(days=1),
                    sync_runs.c.status == "success",
                    sync_runs.c.started_at >= midnight_utc + MIDNIGHT_GRACE,
                )
            ).limit(1)
        ).first()
    return [today] if done else [today - timedelta(days=1), today]


def sync_live(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, *, now: datetime | None = None,
    dagster_run_id: str | None = None,
) -> list[SyncOutcome]:
    """The live flow for one enterprise: its live window, through one connection."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        transport = fleet.transport(enterprise)
    except FleetConfigError as exc:
        return [_config_failure(engine, enterprise, Flow.LIVE, now.date(), str(exc), dagster_run_id=dagster_run_id)]
    try:
        days = live_days(now, fleet, enterprise, engine, transport.pbx_clock())
        outcomes = []
        for day in days:
            optional = day != days[-1]  # yesterday: gone or finished is not a failure
            outcome = _guarded(
                engine, enterprise, Flow.LIVE, day, dagster_run_id,
                partial(_sync_live_day, engine, fleet, enterprise, transport, day, optional, dagster_run_id, now),
            )
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes
    finally:
        transport.close()


def _sync_live_day(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, transport: Transport, day: date,
    optional: bool, dagster_run_id: str | None, started: datetime,
) -> SyncOutcome | None:
    settings = fleet.settings
    before = transport.bytes_transferred
    table = Flow.LIVE.table
    with engine.connect() as conn:
        cursor = read_cursor(conn, enterprise.number, day, table)
    source: FetchedRows | FileRows
    try:
        if settings.live_fetch == "copy":
            raise NoRemoteSqlite("whole-file copies requested (ASTERISK_LIVE_FETCH=copy)")
        source = _fetch_above(transport, day, table, cursor.file_last_id, settings)
        if replaced_reason(cursor, source.fetched_anchors) is not None:
            # Not the file read before: fetch it from its start (the import records why).
            seen = (cursor.file_last_id, source.fetched_anchors)
            source = replace(_fetch_above(transport, day, table, BEFORE_FIRST_ROW, settings), seen=seen)
    except NoRemoteSqlite:
        try:
            copy = transport.local_copy(day, fleet.cache_dir(enterprise))
        except TransportError as exc:
            return _transport_failure(
                engine, enterprise, Flow.LIVE, day, exc, transport, before, started, optional, dagster_run_id
            )
        source = FileRows(DayFile(copy.path, settings.sqlite_busy_timeout_s), table, settings.read_chunk_rows, settings.read_chunk_bytes)
    except TransportError as exc:
        return _transport_failure(
            engine, enterprise, Flow.LIVE, day, exc, transport, before, started, optional, dagster_run_id
        )
    return run_import(
        engine, enterprise, flow=Flow.LIVE, file_date=day, settings=settings, rows=source,
        bytes_transferred=lambda: transport.bytes_transferred - before,
        dagster_run_id=dagster_run_id, tz=fleet.timezone(enterprise), started=started,
    )


def _fetch_above(transport: Transport, day: date, table: str, cursor: int, settings: Settings) -> FetchedRows:
    """Rows above the cursor, in chunks, up to the per-cycle cap (the rest waits a cycle), and
    the anchors that tell whether the file is still the one the cursor read."""
    rows: list[SourceRow] = []
    anchors = Anchors(None, None)
    after = cursor
    held = 0
    chunk = min(settings.read_chunk_rows, settings.live_max_rows_per_cycle)
    while len(rows) < settings.live_max_rows_per_cycle and held < settings.live_max_bytes_per_cycle:
        fetched = transport.fetch_rows(day, table, after, chunk, settings.read_chunk_bytes)
        batch = [row for row in fetched if row.id > after]
        if after == cursor:
            anchors = anchors_from(fetched, cursor)
        rows.extend(batch)
        size = sum(values_bytes(row) for row in batch)
        held += size
        # Short of rows and of bytes: the table's end. (An answer stopped for room holds at least
        # about half its byte bound of values, anchors included: SSH counts hex, twice the size.)
        size += sum(values_bytes(row) for row in fetched if row.id <= after)
        full = 2 * size >= settings.read_chunk_bytes
        if not batch or (len(batch) < chunk and not full):
            break
        after = batch[-1].id
    return FetchedRows(rows, cursor, anchors)



def sync_history_day(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, day: date, *, force: bool = False,
    transport: Transport | None = None, dagster_run_id: str | None = None,
) -> SyncOutcome:
    """The history flow for one day: a verified (cached) copy of the file, then its APIlogs.

    Never raises: whatever goes wrong ends as this day's recorded failure, and the caller goes
    on with the next day and enterprise (SPEC §4.1).
    """
    outcome = _guarded(
        engine, enterprise, Flow.HISTORY, day, dagster_run_id,
        lambda: _sync_history_day(engine, fleet, enterprise, day, force, transport, dagster_run_id),
    )
    assert outcome is not None
    return outcome


def _guarded(
    engine: Engine, enterprise: Enterprise, flow: Flow, day: date, dagster_run_id: str | None,
    work: Callable[[], SyncOutcome | None],
) -> SyncOutcome | None:
    """Run one sync; an exception that escapes it becomes its recorded failure with its kind."""
    try:
        return work()
    except Exception as exc:  # the quarantine boundary of one sync
        kind, message = failure_of(exc)
        log.exception("%s sync of %s for %s crashed", flow.value, day, enterprise.number)
        return _config_failure(engine, enterprise, flow, day, message, kind=kind, dagster_run_id=dagster_run_id)


def _sync_history_day(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, day: date, force: bool,
    transport: Transport | None, dagster_run_id: str | None,
) -> SyncOutcome:
    started = datetime.now(UTC)
    own = transport is None
    try:
        transport = transport or fleet.transport(enterprise)
    except FleetConfigError as exc:
        return _config_failure(engine, enterprise, Flow.HISTORY, day, str(exc), dagster_run_id=dagster_run_id)
    before = transport.bytes_transferred
    try:
        copy = transport.local_copy(day, fleet.cache_dir(enterprise))
    except TransportError as exc:
        outcome = _transport_failure(
            engine, enterprise, Flow.HISTORY, day, exc, transport, before, started, False, dagster_run_id
        )
        assert outcome is not None
        return outcome
    finally:
        if own:
            transport.close()
    settings = fleet.settings
    day_file = DayFile(copy.path, settings.sqlite_busy_timeout_s)
    return run_import(
        engine, enterprise, flow=Flow.HISTORY, file_date=day, settings=settings,
        rows=FileRows(day_file, Flow.HISTORY.table, settings.read_chunk_rows, settings.read_chunk_bytes),
        force=force, bytes_transferred=lambda: copy.bytes_transferred,
        dagster_run_id=dagster_run_id, tz=fleet.timezone(enterprise), started=started,
    )


def sync_history_range(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, start: date, end: date, *,
    force: bool = False, dagster_run_id: str | None = None,
) -> list[SyncOutcome]:
    """Every day file the PBX has in [start, end], through one connection."""
    try:
        transport = fleet.transport(enterprise)
    except FleetConfigError as exc:
        return [_config_failure(engine, enterprise, Flow.HISTORY, start, str(exc), dagster_run_id=dagster_run_id)]
    try:
        try:
            files = transport.list_day_files(start, end)
        except TransportError as exc:
            started = datetime.now(UTC)
            failure = _transport_failure(
                engine, enterprise, Flow.HISTORY, start, exc, transport, 0, started, False, dagster_run_id
            )
            return [failure] if failure else []
        except Exception as exc:  # recorded, never escaping the range
            kind, message = failure_of(exc)
            log.exception("listing the day files of %s crashed", enterprise.number)
            return [_config_failure(engine, enterprise, Flow.HISTORY, start, message, kind=kind,
                                    dagster_run_id=dagster_run_id)]
        return [
            sync_history_day(engine, fleet, enterprise, f.day, force=force, transport=transport,
                             dagster_run_id=dagster_run_id)
            for f in files
        ]
    finally:
        transport.close()


def live_cycle(
    engine: Engine, settings: Settings, *, numbers: Sequence[str] | None = None,
    now: datetime | None = None, dagster_run_id: str | None = None,
    on_enterprises: Callable[[list[str]], None] | None = None,
) -> CycleReport:
    """One live cycle over the active fleet (read fresh from ``enterprises``).

    ``on_enterprises`` hears which enterprises the cycle covers before it syncs any of them.
    """
    report = CycleReport(started_at=(now or datetime.now(UTC)).astimezone(UTC))
    began = time.monotonic()
    fleet = Fleet.load(settings)
    with engine.connect() as conn:
        enterprises = active_enterprises(conn)
    if numbers is not None:
        wanted = set(numbers)
        enterprises = [e for e in enterprises if e.number in wanted]
    if on_enterprises is not None:
        on_enterprises([e.number for e in enterprises])

    def one(enterprise: Enterprise) -> list[SyncOutcome]:
        try:
            return sync_live(engine, fleet, enterprise, now=now, dagster_run_id=dagster_run_id)
        except Exception as exc:  # one enterprise's fault must not stop the others
            # (the database gone before the import began, the PBX clock, a bug: all recorded)
            kind, message = failure_of(exc)
            log.exception("live sync of %s crashed", enterprise.number)
            return [_config_failure(engine, enterprise, Flow.LIVE, report.started_at.date(),
                                    message, kind=kind, dagster_run_id=dagster_run_id)]

    with ThreadPoolExecutor(max_workers=settings.ssh_max_sessions, thread_name_prefix="pbx") as pool:
        for outcomes in pool.map(one, enterprises):
            report.outcomes.extend(outcomes)
    report.seconds = time.monotonic() - began
    log.info(
        "live cycle: %d enterprises, %d syncs, %d failed, %d bytes, %.2fs",
        len(enterprises), len(report.outcomes), len(report.failed), report.bytes_transferred, report.seconds,
    )
    return report


def _transport_failure(
    engine: Engine, enterprise: Enterprise, flow: Flow, day: date, exc: TransportError,
    transport: Transport, before: int, started: datetime, optional: bool, dagster_run_id: str | None,
) -> SyncOutcome | None:
    if optional and exc.kind in (TransportErrorKind.MISSING_FILE, TransportErrorKind.NO_TABLE):
        log.debug("%s: no yesterday file to finish (%s)", enterprise.number, exc)
        return None
    base = replace(
        new_run_record(enterprise, flow, day, started),
        counts=SyncCounts(bytes_transferred=transport.bytes_transferred - before),
        dagster_run_id=dagster_run_id,
    )
    return record_failure(engine, base, exc.kind.value, exc.message)


def _config_failure(
    engine: Engine, enterprise: Enterprise, flow: Flow, day: date, message: str, kind: str = "config",
    *, dagster_run_id: str | None,
) -> SyncOutcome:
    base = replace(new_run_record(enterprise, flow, day, datetime.now(UTC)), dagster_run_id=dagster_run_id)
    return record_failure(engine, base, kind, message)
