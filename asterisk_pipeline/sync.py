"""The unit of work: one enterprise, one day file, one flow → rows in the warehouse + statistics.

Everything that syncs (CLI, Dagster, the sidecar through Dagster) calls ``import_day_file``.
Success is recorded in the same transaction as the data; a failure rolls the data back and is
recorded afterwards in its own transaction, with its kind and message, so ``download_sync``
never says "success, 0 events" for a sync that did not happen.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from .model import Enterprise, Flow
from .pbx.files import DayFile, SourceError
from .settings import Settings
from .warehouse.db import write_transaction
from .warehouse.history import RunRecord, record_run
from .warehouse.load import ImportCounts, ImportRequest, import_rows

log = logging.getLogger("asterisk_pipeline.sync")


@dataclass(frozen=True)
class SyncOutcome:
    enterprise: str
    flow: str
    file_date: str
    status: str  # 'success' | 'failed'
    rows_read: int = 0
    new_calls: int = 0
    updated_calls: int = 0
    new_events: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0
    bytes_transferred: int = 0
    seconds: float = 0.0
    error_kind: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def summary(self) -> dict[str, Any]:
        """The one-line JSON the CLI prints (no secrets: only counts, names and messages)."""
        data = asdict(self)
        data.pop("extra")
        if self.ok:
            data.pop("error_kind")
            data.pop("error")
        data["seconds"] = round(self.seconds, 3)
        return data


def import_day_file(
    engine: Engine,
    enterprise: Enterprise,
    path: Path,
    *,
    flow: Flow,
    file_date: date,
    settings: Settings,
    force: bool = False,
    bytes_transferred: int = 0,
    dagster_run_id: str | None = None,
) -> SyncOutcome:
    """Import one local day file for one enterprise; never raises for a bad file or host."""
    started = datetime.now(timezone.utc)
    request = ImportRequest(
        enterprise=enterprise,
        flow=flow,
        file_date=file_date,
        tz=settings.timezone_for(enterprise.number),
        force=force,
        live_import_all=settings.live_import_all,
    )
    day_file = DayFile(path, busy_timeout_s=settings.sqlite_busy_timeout_s)
    base = RunRecord(
        enterprise_id=enterprise.number,
        asterisk_host=enterprise.host or "",
        flow=flow.value,
        file_date=file_date,
        source_table=flow.table,
        started_at=started,
        finished_at=started,
        status="success",
        bytes_transferred=bytes_transferred,
        dagster_run_id=dagster_run_id,
    )
    try:
        with write_transaction(engine) as conn:
            counts = import_rows(
                conn,
                request,
                lambda after: day_file.read_rows(flow.table, after, settings.read_chunk_rows),
            )
            record = _with_counts(base, counts)
            record_run(conn, record)
    except SourceError as exc:
        return _failed(engine, base, exc.kind.value, exc.message)
    except SQLAlchemyError as exc:
        log.exception("database error importing %s for %s", path.name, enterprise.number)
        cause = getattr(exc, "orig", None) or exc
        return _failed(engine, base, "database", f"central database error: {type(cause).__name__}: {cause}")
    outcome = _outcome(record)
    log.info(
        "sync ok enterprise=%s flow=%s date=%s rows=%d new_calls=%d new_events=%d "
        "duplicates=%d rejected=%d conflicts=%d seconds=%.2f",
        enterprise.number, flow.value, file_date, record.rows_read, record.new_calls,
        record.new_events, record.duplicates, record.rejected, record.conflicts, outcome.seconds,
    )
    return outcome


def _with_counts(base: RunRecord, counts: ImportCounts) -> RunRecord:
    return replace(
        base,
        finished_at=datetime.now(timezone.utc),
        rows_read=counts.rows_read,
        new_calls=counts.new_calls,
        updated_calls=counts.updated_calls,
        new_events=counts.new_events,
        duplicates=counts.duplicates,
        rejected=counts.rejected,
        conflicts=counts.conflicts,
    )


def _failed(engine: Engine, base: RunRecord, kind: str, message: str) -> SyncOutcome:
    record = replace(
        base, finished_at=datetime.now(timezone.utc), status="failed", error_kind=kind, error=message
    )
    log.warning(
        "sync failed enterprise=%s host=%s flow=%s date=%s kind=%s: %s",
        base.enterprise_id, base.asterisk_host, base.flow, base.file_date, kind, message,
    )
    try:
        with write_transaction(engine) as conn:
            record_run(conn, record)
    except SQLAlchemyError:
        log.exception("could not record the failure of enterprise %s", base.enterprise_id)
    return _outcome(record)


def _outcome(record: RunRecord) -> SyncOutcome:
    return SyncOutcome(
        enterprise=record.enterprise_id,
        flow=record.flow,
        file_date=record.file_date.isoformat() if record.file_date else "",
        status=record.status,
        rows_read=record.rows_read,
        new_calls=record.new_calls,
        updated_calls=record.updated_calls,
        new_events=record.new_events,
        duplicates=record.duplicates,
        rejected=record.rejected,
        conflicts=record.conflicts,
        bytes_transferred=record.bytes_transferred,
        seconds=record.duration_s,
        error_kind=record.error_kind,
        error=record.error,
    )
