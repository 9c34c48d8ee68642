"""The cycles over the unit of work: one enterprise's live window or history days, and the live
cycle over the fleet.

Each sync asks the fleet once for its enterprise's PBX (``Fleet.pbx``: time zone, cache
directory, transport) and opens one transport (one SSH connection). A live sync fetches the rows
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

from sqlalchemy import Connection, Engine

from ..model import BEFORE_FIRST_ROW, Enterprise, Flow, SourceRow, SyncCounts
from ..pbx.files import DayFile, values_bytes
from ..pbx.fleet import Fleet, FleetConfigError, Pbx
from ..pbx.transport import LocalCopy, NoRemoteSqlite, Transport, TransportError, TransportErrorKind
from ..settings import Settings
from ..warehouse.cursors import Cursor, read_cursors
from ..warehouse.db import write_transaction
from ..warehouse.fleet_health import record_clock
from ..warehouse.history import succeeded_since
from ..warehouse.registry import active_enterprises
from ..warehouse.stats import DayRange
from .importer import ImportRequest
from .sources import Anchors, FetchedRows, FileRows, RowSource, anchors_from, replaced_reason
from .unit import SyncOutcome, failure_of, new_run_record, record_failure, run_import

log = logging.getLogger("asterisk_pipeline.sync.cycles")

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


def live_days(now: datetime, pbx: Pbx, engine: Engine, pbx_now: datetime | None = None) -> list[date]:
    """SPEC §4.6: the PBX's own today, and yesterday until it was read in full after midnight
    (``window_days`` on a connection of its own)."""
    with engine.connect() as conn:
        return window_days(conn, now, pbx, pbx_now)


def window_days(conn: Connection, now: datetime, pbx: Pbx, pbx_now: datetime | None = None) -> list[date]:
    """SPEC §4.6: the PBX's own today, and yesterday until it was read in full after midnight.

    ``pbx_now`` is the PBX's own clock when it told (``Transport.pbx_clock``): a PBX hours ahead
    of or behind the central server writes the file of *its* date, so that date is today, and
    its midnight, moved onto the central clock (``sync_runs.started_at``), ends yesterday.
    """
    tz, number = pbx.timezone, pbx.enterprise.number
    skew = (pbx_now - now) if pbx_now is not None else timedelta(0)
    if abs(skew) > MAX_CLOCK_SKEW:
        log.warning("%s: the PBX clock is %s off the central clock; not believed", number, skew)
        skew = timedelta(0)
    local_now = (now + skew).astimezone(tz)
    today = local_now.date()
    pbx_midnight = datetime.combine(today, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    midnight_utc = pbx_midnight - skew  # the PBX's midnight on the central clock
    yesterday = today - timedelta(days=1)
    done = succeeded_since(conn, number, Flow.LIVE.value, yesterday, midnight_utc + MIDNIGHT_GRACE)
    return [today] if done else [yesterday, today]


@dataclass(frozen=True)
class SyncRun:
    """What the run asking for syncs brings: its Dagster run id (None outside Dagster), whether
    an unchanged history file is imported again, and the hook that hears which enterprises a
    live cycle covers before it syncs any of them."""

    dagster_run_id: str | None = None
    force: bool = False
    on_enterprises: Callable[[list[str]], None] | None = None


NO_RUN = SyncRun()  # a sync outside Dagster, not forced, heard by nobody


@dataclass(frozen=True)
class _Syncs:
    """One enterprise's syncs of one flow: where they are recorded, for which Dagster run, and
    the settings they read with."""

    engine: Engine
    enterprise: Enterprise
    flow: Flow
    settings: Settings
    dagster_run_id: str | None

    def file_rows(self, day_file: DayFile) -> FileRows:
        return FileRows.configured(day_file, self.flow.table, self.settings)

    def failed(
        self, day: date, kind: str, message: str, *, started: datetime | None = None,
        bytes_transferred: int = 0,
    ) -> SyncOutcome:
        """Record a sync that ended before (or outside) its import."""
        base = replace(
            new_run_record(self.enterprise, self.flow, day, started or datetime.now(UTC)),
            counts=SyncCounts(bytes_transferred=bytes_transferred),
            dagster_run_id=self.dagster_run_id,
        )
        return record_failure(self.engine, base, kind, message)

    def transport_failed(
        self, day: date, exc: TransportError, *, started: datetime, bytes_transferred: int,
        optional: bool = False,
    ) -> SyncOutcome | None:
        if optional and exc.kind in (TransportErrorKind.MISSING_FILE, TransportErrorKind.NO_TABLE):
            log.debug("%s: no yesterday file to finish (%s)", self.enterprise.number, exc)
            return None
        return self.failed(
            day, exc.kind.value, exc.message, started=started, bytes_transferred=bytes_transferred
        )

    def guarded(self, day: date, work: Callable[[], SyncOutcome | None]) -> SyncOutcome | None:
        """Run one sync; an exception that escapes it becomes its recorded failure with its kind."""
        try:
            return work()
        except Exception as exc:  # the quarantine boundary of one sync
            kind, message = failure_of(exc)
            log.exception("%s sync of %s for %s crashed", self.flow.value, day, self.enterprise.number)
            return self.failed(day, kind, message)


@dataclass(frozen=True)
class _Day:
    """One day's sync of one enterprise: its syncs, its PBX, the day and when the sync began."""

    syncs: _Syncs
    pbx: Pbx
    day: date
    started: datetime

    def import_rows(self, rows: RowSource, *, bytes_transferred: int, force: bool = False) -> SyncOutcome:
        s = self.syncs
        request = ImportRequest(
            s.enterprise, s.flow, self.day, self.pbx.timezone, force=force,
            live_import_all=s.settings.live_import_all, bytes_transferred=bytes_transferred,
            dagster_run_id=s.dagster_run_id, started=self.started, missed_window=s.settings.missed_window,
        )
        return run_import(s.engine, request, rows)

    def transport_failed(
        self, exc: TransportError, *, bytes_transferred: int, optional: bool = False,
    ) -> SyncOutcome | None:
        return self.syncs.transport_failed(
            self.day, exc, started=self.started, bytes_transferred=bytes_transferred, optional=optional,
        )


def sync_live(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, *, now: datetime | None = None,
    run: SyncRun = NO_RUN,
) -> list[SyncOutcome]:
    """The live flow for one enterprise: its live window, through one connection."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    syncs = _Syncs(engine, enterprise, Flow.LIVE, fleet.settings, run.dagster_run_id)
    try:
        pbx = fleet.pbx(enterprise)
    except FleetConfigError as exc:
        return [syncs.failed(now.date(), "config", str(exc))]
    transport = pbx.transport()
    try:
        # The PBX's clock, and whether the files of the days that can be its yesterday exist
        # (within MAX_CLOCK_SKEW of the central date): one round trip before the window is known.
        central_today = now.astimezone(pbx.timezone).date()
        told = transport.pbx_clock([central_today - timedelta(days=n) for n in (2, 1, 0)])
        pbx_now = told.now
        # Everything the sync asks the warehouse before it fetches, on one connection: the
        # clock kept, the live window, and the cursors of its days (one checkout, not four).
        # Only a clock to keep makes it a write (SQLite: the write lock is not taken to read).
        with write_transaction(engine) if pbx_now is not None else engine.connect() as conn:
            if pbx_now is not None:  # SPEC §4.8: the offset for fleet health, "when known"
                record_clock(conn, enterprise.number, (pbx_now - now).total_seconds(), now)
            days = window_days(conn, now, pbx, pbx_now)
            # A yesterday the PBX does not have: nothing to finish (what its fetch would find).
            wanted = [day for day in days if day == days[-1] or day not in told.absent]
            for day in sorted(set(days) - set(wanted)):
                log.debug("%s: no yesterday file to finish (%s absent)", enterprise.number, day)
            cursors = read_cursors(conn, enterprise.number, wanted, Flow.LIVE.table)
        outcomes = []
        for day in wanted:
            optional = day != days[-1]  # yesterday: gone or finished is not a failure
            job = _Day(syncs, pbx, day, now)
            outcome = syncs.guarded(day, partial(_sync_live_day, job, transport, cursors[day], optional))
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes
    finally:
        transport.close()


def _sync_live_day(job: _Day, transport: Transport, cursor: Cursor, optional: bool) -> SyncOutcome | None:
    """One day of the live window: the rows above ``cursor`` (read before the fetches; the
    import reads it again inside its transaction, ``FetchedRows.anchors``) fetched, then imported."""
    syncs, pbx, day = job.syncs, job.pbx, job.day
    settings = syncs.settings
    before = transport.bytes_transferred
    table = Flow.LIVE.table
    source: FetchedRows | FileRows
    try:
        if settings.live_fetch == "copy":
            raise NoRemoteSqlite("whole-file copies requested (ASTERISK_LIVE_FETCH=copy)")
        source = fetch_above(transport, day, table, cursor.file_last_id, settings)
        if replaced_reason(cursor, source.fetched_anchors) is not None:
            # Not the file read before: fetch it from its start (the import records why).
            seen = (cursor.file_last_id, source.fetched_anchors)
            source = replace(fetch_above(transport, day, table, BEFORE_FIRST_ROW, settings), seen=seen)
    except NoRemoteSqlite:
        try:
            copy = transport.local_copy(day, pbx.cache_dir)
        except TransportError as exc:
            return job.transport_failed(
                exc, bytes_transferred=transport.bytes_transferred - before, optional=optional,
            )
        source = syncs.file_rows(DayFile(copy.path, settings.sqlite_busy_timeout_s))
    except TransportError as exc:
        return job.transport_failed(
            exc, bytes_transferred=transport.bytes_transferred - before, optional=optional,
        )
    # Everything is fetched: what the transport counted since is this day's cost.
    return job.import_rows(source, bytes_transferred=transport.bytes_transferred - before)


def fetch_above(transport: Transport, day: date, table: str, cursor: int, settings: Settings) -> FetchedRows:
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
    engine: Engine, fleet: Fleet, enterprise: Enterprise, day: date, *, run: SyncRun = NO_RUN,
) -> SyncOutcome:
    """The history flow for one day: a verified (cached) copy of the file, then its APIlogs.

    Never raises: whatever goes wrong ends as this day's recorded failure, and the caller goes
    on with the next day and enterprise (SPEC §4.1).
    """
    syncs = _Syncs(engine, enterprise, Flow.HISTORY, fleet.settings, run.dagster_run_id)

    def work() -> SyncOutcome:
        started = datetime.now(UTC)
        try:
            pbx = fleet.pbx(enterprise)
        except FleetConfigError as exc:
            return syncs.failed(day, "config", str(exc))
        job = _Day(syncs, pbx, day, started)
        transport = pbx.transport()
        try:  # the connection is closed before the import: the copy is all it is needed for
            copied = _copy_day(job, transport)
        finally:
            transport.close()
        return copied if isinstance(copied, SyncOutcome) else _import_copy(job, copied, run.force)

    outcome = syncs.guarded(day, work)
    assert outcome is not None
    return outcome


def _history_day(syncs: _Syncs, pbx: Pbx, transport: Transport, day: date, force: bool) -> SyncOutcome:
    """One day of a range, through the range's open transport."""
    job = _Day(syncs, pbx, day, datetime.now(UTC))
    copied = _copy_day(job, transport)
    return copied if isinstance(copied, SyncOutcome) else _import_copy(job, copied, force)


def _copy_day(job: _Day, transport: Transport) -> LocalCopy | SyncOutcome:
    """The day file on local disk (a verified cached copy), or the recorded failure to get it."""
    before = transport.bytes_transferred
    try:
        return transport.local_copy(job.day, job.pbx.cache_dir)
    except TransportError as exc:
        return job.syncs.failed(
            job.day, exc.kind.value, exc.message, started=job.started,
            bytes_transferred=transport.bytes_transferred - before,
        )


def _import_copy(job: _Day, copy: LocalCopy, force: bool) -> SyncOutcome:
    day_file = DayFile(copy.path, job.syncs.settings.sqlite_busy_timeout_s)
    return job.import_rows(
        job.syncs.file_rows(day_file), bytes_transferred=copy.bytes_transferred, force=force,
    )


def sync_history_range(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, days: DayRange, *, run: SyncRun = NO_RUN,
) -> list[SyncOutcome]:
    """Every day file the PBX has in ``days`` (both ends given), through one connection."""
    start, end = days.first, days.last
    if start is None or end is None:
        raise ValueError("a history range needs both ends")
    syncs = _Syncs(engine, enterprise, Flow.HISTORY, fleet.settings, run.dagster_run_id)
    try:
        pbx = fleet.pbx(enterprise)
    except FleetConfigError as exc:
        return [syncs.failed(start, "config", str(exc))]
    transport = pbx.transport()
    try:
        try:
            files = transport.list_day_files(start, end)
        except TransportError as exc:
            started = datetime.now(UTC)
            return [syncs.failed(
                start, exc.kind.value, exc.message, started=started,
                bytes_transferred=transport.bytes_transferred,
            )]
        except Exception as exc:  # recorded, never escaping the range
            kind, message = failure_of(exc)
            log.exception("listing the day files of %s crashed", enterprise.number)
            return [syncs.failed(start, kind, message)]
        outcomes = []
        for f in files:
            outcome = syncs.guarded(f.day, partial(_history_day, syncs, pbx, transport, f.day, run.force))
            assert outcome is not None
            outcomes.append(outcome)
        return outcomes
    finally:
        transport.close()


def live_cycle(
    engine: Engine, fleet: Fleet, *, numbers: Sequence[str] | None = None,
    now: datetime | None = None, run: SyncRun = NO_RUN,
) -> CycleReport:
    """One live cycle over the active fleet (read fresh from ``enterprises``).

    ``run.on_enterprises`` hears which enterprises the cycle covers before it syncs any of them.
    """
    report = CycleReport(started_at=(now or datetime.now(UTC)).astimezone(UTC))
    began = time.monotonic()
    with engine.connect() as conn:
        enterprises = active_enterprises(conn)
    if numbers is not None:
        wanted = set(numbers)
        enterprises = [e for e in enterprises if e.number in wanted]
    if run.on_enterprises is not None:
        run.on_enterprises([e.number for e in enterprises])

    def one(enterprise: Enterprise) -> list[SyncOutcome]:
        try:
            return sync_live(engine, fleet, enterprise, now=now, run=run)
        except Exception as exc:  # one enterprise's fault must not stop the others
            # (the database gone before the import began, the PBX clock, a bug: all recorded)
            kind, message = failure_of(exc)
            log.exception("live sync of %s crashed", enterprise.number)
            syncs = _Syncs(engine, enterprise, Flow.LIVE, fleet.settings, run.dagster_run_id)
            return [syncs.failed(report.started_at.date(), kind, message)]

    with ThreadPoolExecutor(max_workers=fleet.settings.ssh_max_sessions, thread_name_prefix="pbx") as pool:
        for outcomes in pool.map(one, enterprises):
            report.outcomes.extend(outcomes)
    report.seconds = time.monotonic() - began
    log.info(
        "live cycle: %d enterprises, %d syncs, %d failed, %d bytes, %.2fs",
        len(enterprises), len(report.outcomes), len(report.failed), report.bytes_transferred, report.seconds,
    )
    return report
