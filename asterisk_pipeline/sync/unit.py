"""The unit of work: one enterprise, one day file, one flow → rows in the warehouse + statistics.

Every sync ends in ``run_import``: the cycles (``cycles``: live windows and history days
fetched from the PBXes) and ``import_day_file`` (a day file on local disk, ``import``).
Success is recorded in the same transaction as the data; a failure rolls the data back and is
recorded afterwards in its own transaction, with its kind and message, so ``download_sync``
never says "success, 0 events" for a sync that did not happen.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..model import Enterprise, Flow, SyncCounts
from ..pbx.files import DayFile, SourceError
from ..pbx.fleet import Fleet
from ..pbx.transport import TransportError
from ..warehouse.db import retry_database, write_transaction
from ..warehouse.history import RunRecord, record_run
from ..warehouse.maintenance import refresh_statistics
from .importer import ImportRequest, import_rows
from .sources import FileRows, RowSource

log = logging.getLogger("asterisk_pipeline.sync")

#: How long a failure keeps trying to reach the database to record itself (a restart's downtime).
RECORD_FAILURE_RETRY_S = 30.0


@dataclass(frozen=True)
class SyncOutcome:
    enterprise: str
    flow: str
    file_date: str
    status: str  # 'success' | 'failed'
    counts: SyncCounts = field(default_factory=SyncCounts)
    seconds: float = 0.0
    error_kind: str | None = None
    error: str | None = None
    # Set when the file was not the one read before and was read again from its start.
    file_replaced: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    # The counters read through, so that every layer names them alike.
    rows_read = property(lambda self: self.counts.rows_read)
    new_calls = property(lambda self: self.counts.new_calls)
    updated_calls = property(lambda self: self.counts.updated_calls)
    new_events = property(lambda self: self.counts.new_events)
    duplicates = property(lambda self: self.counts.duplicates)
    rejected = property(lambda self: self.counts.rejected)
    conflicts = property(lambda self: self.counts.conflicts)
    bytes_transferred = property(lambda self: self.counts.bytes_transferred)

    def summary(self) -> dict[str, Any]:
        """The one-line JSON the CLI prints (no secrets: only counts, names and messages)."""
        data: dict[str, Any] = {
            "enterprise": self.enterprise, "flow": self.flow, "file_date": self.file_date,
            "status": self.status, **asdict(self.counts), "seconds": round(self.seconds, 3),
        }
        if self.file_replaced:
            data["file_replaced"] = self.file_replaced
        if not self.ok:
            data["error_kind"], data["error"] = self.error_kind, self.error
        return data


@dataclass(frozen=True)
class LocalDayFile:
    """A day file on local disk: where it is, which flow's table to read, and its day."""

    path: Path
    flow: Flow
    file_date: date


def import_day_file(
    engine: Engine, fleet: Fleet, enterprise: Enterprise, local: LocalDayFile, *, force: bool = False,
) -> SyncOutcome:
    """Import one local day file for one enterprise; never raises for a bad file.

    The file's local times are read in the enterprise's PBX zone (``Fleet.timezone``).
    """
    path, flow, file_date = local.path, local.flow, local.file_date
    settings = fleet.settings
    request = ImportRequest(
        enterprise, flow, file_date, fleet.timezone(enterprise), force=force,
        live_import_all=settings.live_import_all, missed_window=settings.missed_window,
    )
    day_file = DayFile(path, busy_timeout_s=settings.sqlite_busy_timeout_s)
    return run_import(
        engine, request, FileRows.configured(day_file, flow.table, settings)
    )


def run_import(engine: Engine, request: ImportRequest, rows: RowSource) -> SyncOutcome:
    """Import rows (from a file or a PBX) in one transaction and record the outcome truthfully.

    ``request.started`` is the clock of the caller (a live cycle's "now"); finished_at is that
    plus the measured elapsed time, so the two always agree.
    """
    enterprise, flow, file_date = request.enterprise, request.flow, request.file_date
    # UTC always: SQLite stores the wall-clock fields of an aware datetime and drops its zone.
    started = (request.started or datetime.now(UTC)).astimezone(UTC)
    began = time.monotonic()
    clock: Callable[[], datetime] = lambda: started + timedelta(seconds=time.monotonic() - began)
    base = replace(
        new_run_record(enterprise, flow, file_date, started), dagster_run_id=request.dagster_run_id
    )
    try:
        with write_transaction(engine) as conn:
            result = import_rows(conn, request, rows)
            record = replace(
                _with_counts(base, result.counts, request.bytes_transferred, clock()),
                file_replaced=result.file_replaced,
            )
            record_run(conn, record)
    except Exception as exc:  # the quarantine boundary of one sync (SPEC §4.1)
        kind, message = failure_of(exc)
        if not isinstance(exc, (SourceError, TransportError)):  # a file's own fault needs no traceback
            log.exception("%s error importing %s for %s", kind, file_date, enterprise.number)
        failed = replace(
            base, counts=SyncCounts(bytes_transferred=request.bytes_transferred), finished_at=clock()
        )
        return record_failure(engine, failed, kind, message)
    refresh_statistics(engine)
    outcome = _outcome(record)
    if outcome.file_replaced:
        log.warning(
            "file replaced enterprise=%s flow=%s date=%s: %s; read again from its start",
            enterprise.number, flow.value, file_date, outcome.file_replaced,
        )
    log.info(
        "sync ok enterprise=%s flow=%s date=%s rows=%d new_calls=%d new_events=%d "
        "duplicates=%d rejected=%d conflicts=%d bytes=%d seconds=%.2f",
        enterprise.number, flow.value, file_date, outcome.rows_read, outcome.new_calls,
        outcome.new_events, outcome.duplicates, outcome.rejected, outcome.conflicts,
        outcome.bytes_transferred, outcome.seconds,
    )
    return outcome


#: How much of an error's text a recorded failure keeps (a hostile value may be megabytes).
ERROR_EXCERPT = 500


def failure_of(exc: BaseException) -> tuple[str, str]:
    """The recorded kind and message of an error that ended a sync.

    ``database``: the central database refused or failed (also when the driver raised it
    inside a bulk COPY, where SQLAlchemy does not wrap it); ``internal``: anything else — a bug
    or an input no rule foresaw, recorded rather than escaping the run.
    """
    if isinstance(exc, (SourceError, TransportError)):
        return exc.kind.value, exc.message[:ERROR_EXCERPT]
    cause = getattr(exc, "orig", None) or exc
    if isinstance(exc, SQLAlchemyError) or _is_driver_error(cause):
        return "database", f"central database error: {type(cause).__name__}: {cause}"[:ERROR_EXCERPT]
    return "internal", f"internal error: {type(exc).__name__}: {exc}"[:ERROR_EXCERPT]


def _is_driver_error(exc: BaseException) -> bool:
    """A DB-API error of the warehouse's drivers (psycopg, sqlite3), by the PEP 249 base class."""
    return any(
        klass.__name__ == "Error" and klass.__module__ in ("psycopg", "psycopg.errors", "sqlite3")
        for klass in type(exc).__mro__
    )


def new_run_record(enterprise: Enterprise, flow: Flow, day: date, started: datetime) -> RunRecord:
    """The run-history row of one sync before anything happened (status success, no counts)."""
    return RunRecord(
        enterprise_id=enterprise.number, asterisk_host=enterprise.host or "", flow=flow.value,
        file_date=day, source_table=flow.table, started_at=started, finished_at=started,
        status="success",
    )


def _with_counts(base: RunRecord, counts: SyncCounts, bytes_transferred: int, finished: datetime) -> RunRecord:
    return replace(base, finished_at=finished, counts=replace(counts, bytes_transferred=bytes_transferred))


def record_failure(engine: Engine, base: RunRecord, kind: str, message: str) -> SyncOutcome:
    """Record a failed sync in its own transaction (the data transaction rolled back)."""
    finished = max(base.finished_at, base.started_at)
    record = replace(base, finished_at=finished, status="failed", error_kind=kind, error=message)
    log.warning(
        "sync failed enterprise=%s host=%s flow=%s date=%s kind=%s: %s",
        base.enterprise_id, base.asterisk_host, base.flow, base.file_date, kind, message,
    )
    def write() -> None:
        with write_transaction(engine) as conn:
            record_run(conn, record)

    try:  # the database itself may be the fault: keep trying while it restarts
        retry_database(write, engine=engine, seconds=RECORD_FAILURE_RETRY_S)
    except SQLAlchemyError:
        log.exception("could not record the failure of enterprise %s", base.enterprise_id)
    return _outcome(record)


def _outcome(record: RunRecord) -> SyncOutcome:
    return SyncOutcome(
        enterprise=record.enterprise_id,
        flow=record.flow,
        file_date=record.file_date.isoformat() if record.file_date else "",
        status=record.status,
        counts=record.counts,
        seconds=record.duration_s,
        error_kind=record.error_kind,
        error=record.error,
        file_replaced=record.file_replaced,
    )
