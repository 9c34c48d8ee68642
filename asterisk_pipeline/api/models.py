"""Request and response bodies of the sidecar: the legacy key names, with OpenAPI examples."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

NUMBER_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def _iso_date(value: object) -> object:
    """Only a ``YYYY-MM-DD`` string is a date here: no numbers, no other spellings."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date string YYYY-MM-DD")
    return date.fromisoformat(value)  # "2025-02-30" → "day is out of range for month"


#: A calendar date given as an ISO string.
StrictDate = Annotated[date, BeforeValidator(_iso_date)]


class HistorySyncRequest(BaseModel):
    """Body of ``POST /sync/{enterprise}`` and ``POST /sync/all`` (every field optional)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [
            {"enterprise_id": "0327", "force_all": False, "date_from": "2025-06-22", "date_to": "2025-07-03"}
        ]},
    )

    enterprise_id: str | None = Field(
        default=None, pattern=NUMBER_PATTERN, description="Ignored when the path names the enterprise"
    )
    force_all: StrictBool = Field(default=False, description="Re-import days already imported")
    date_from: StrictDate | None = Field(default=None, description="First day, YYYY-MM-DD")
    date_to: StrictDate | None = Field(default=None, description="Last day, YYYY-MM-DD, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> HistorySyncRequest:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self


class FieldError(BaseModel):
    """One invalid input of a 422 (pydantic's error, its input cut to a short excerpt)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description='Where: e.g. ["body", "date_from"], ["path", "enterprise"]')
    msg: str
    type: str = Field(description='pydantic\'s error type, e.g. "string_pattern_mismatch", "value_error"')
    input: Any = Field(default=None, description="The offending input, at most an 80-character excerpt")
    ctx: dict[str, Any] | None = None


class Error(BaseModel):
    """The body of every error answer (4xx and 5xx; /health's 503 is its health report)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": "enterprise 0999 is unknown or not active", "errors": []},
        {"detail": "invalid input: body.date_from: Value error, must be a date string YYYY-MM-DD",
         "errors": [{"loc": ["body", "date_from"], "msg": "Value error, must be a date string YYYY-MM-DD",
                     "type": "value_error", "input": "2025/06/22"}]},
    ]})

    detail: str = Field(description="What is wrong, in one sentence (always a string)")
    errors: list[FieldError] = Field(
        default_factory=list, description="422: each invalid input; empty for every other error")


class SyncStarted(BaseModel):
    """A sync handed to Dagster (202), or its outcome with ``?wait=true`` (200)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "message": "live sync started for 0327", "enterprise_id": "0327", "enterprises": ["0327"],
        "type": "live_events", "target_table": "AlternativeAPIlogs",
        "run_id": "4f1c0c52-9d1e-4b1f-a0f5-6f9f1c9b2a11", "backfill_id": None,
        "dagster_url": "http://127.0.0.1:3000/runs/4f1c0c52-9d1e-4b1f-a0f5-6f9f1c9b2a11",
        "status": "QUEUED", "finished": False, "statistics": None,
    }]})

    message: str
    enterprise_id: str | None = Field(description="The enterprise, or null for /all")
    enterprises: list[str]
    type: str = Field(description='"live_events" or "historical_events"')
    target_table: str = Field(description='"AlternativeAPIlogs" (live) or "APIlogs" (history)')
    run_id: str | None = Field(description="Dagster run id (live syncs)")
    backfill_id: str | None = Field(description="Dagster backfill id (history syncs)")
    dagster_url: str = Field(description="The run or backfill in the Dagster UI")
    status: str = Field(description="Dagster status when answering (QUEUED, STARTED, SUCCESS, FAILURE…)")
    finished: bool
    date_from: date | None = None
    date_to: date | None = None
    force_all: bool | None = None
    partitions: int | None = Field(default=None, description="(date, enterprise) keys of a backfill")
    statistics: dict[str, Any] | None = Field(
        default=None, description="With ?wait=true: what the syncs did (rows, calls, failures)"
    )


class Conflict(Error):
    """409: the error shape, plus the sync that is already queued or running."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "detail": "a live 0327 sync is already queued or running (run 4f1c0c52-9d1e-4b1f-a0f5-6f9f1c9b2a11)",
        "errors": [], "kind": "run", "id": "4f1c0c52-9d1e-4b1f-a0f5-6f9f1c9b2a11",
        "dagster_url": "http://127.0.0.1:3000/runs/4f1c0c52-9d1e-4b1f-a0f5-6f9f1c9b2a11"}]})

    kind: str = Field(description='"run" or "backfill"')
    id: str
    dagster_url: str


class DataSource(BaseModel):
    data_source: str
    total_calls: int
    first_call: datetime | None
    last_call: datetime | None


class BreakdownRow(BaseModel):
    enterprise_id: str
    data_source: str
    count: int


class LiveStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "data_sources": [
            {"data_source": "downloaded", "total_calls": 5241, "first_call": "2025-06-22T05:01:12Z",
             "last_call": "2025-07-03T17:40:02Z"},
            {"data_source": "live", "total_calls": 6, "first_call": "2025-07-03T08:00:00Z",
             "last_call": "2025-07-03T09:12:44Z"}],
        "enterprise_breakdown": [{"enterprise_id": "0327", "data_source": "live", "count": 6}],
        "auto_sync_interval": 5, "last_live_sync": "2025-07-03T09:15:02Z",
    }]})

    data_sources: list[DataSource]
    enterprise_breakdown: list[BreakdownRow]
    auto_sync_interval: int = Field(description="Minutes between live syncs")
    last_live_sync: datetime | None = Field(description="Newest successful live sync of any enterprise")


class DownloadSyncRow(BaseModel):
    enterprise_id: str
    asterisk_host: str
    last_sync: datetime | None = Field(description="Last successful sync")
    last_failed_sync: datetime | None
    last_check: datetime | None
    total_downloaded: int = Field(description="Source rows read, all time")
    failed_events: int
    last_error: str | None = Field(description="Message of the last failure while it is the newest outcome")
    status: str = Field(description='"ok", "failing" or "never"')


class RunningSync(BaseModel):
    kind: str = Field(description='"run", "backfill run", or "backfill" (requested; its runs not started yet)')
    id: str
    flow: str | None
    enterprises: str
    status: str
    dagster_url: str


class SyncStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "sync_status": [{"enterprise_id": "0327", "asterisk_host": "VOS.vochi.lan",
                         "last_sync": "2025-07-03T09:15:02Z", "last_failed_sync": None,
                         "last_check": "2025-07-03T09:15:02Z", "total_downloaded": 7341,
                         "failed_events": 0, "last_error": None, "status": "ok"}],
        "running": [], "dagster": "ok",
    }]})

    sync_status: list[DownloadSyncRow]
    running: list[RunningSync] | None = Field(
        description="Queued/running runs and requested backfills (null when Dagster does not answer)")
    dagster: str = Field(description='"ok", or why the running syncs are unknown')


class EnterpriseOut(BaseModel):
    enterprise_id: str
    name: str | None
    host: str | None
    ip: str | None
    token: str | None = Field(description="The PBX Token (enterprises.name2)")
    secret: str | None = Field(description='Always masked: "********" when set, else null')


class Enterprises(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enterprises": [
        {"enterprise_id": "0327", "name": "VOS", "host": "VOS.vochi.lan", "ip": "10.88.10.25",
         "token": "375293332255", "secret": "********"}], "count": 1}]})

    enterprises: list[EnterpriseOut]
    count: int


class TodayRow(BaseModel):
    enterprise_id: str
    count: int


class LiveToday(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date": "2025-07-03", "timezone": "Europe/Minsk", "live_calls": 6,
        "by_enterprise": [{"enterprise_id": "0327", "count": 6}]}]})

    date: date
    timezone: str
    live_calls: int = Field(description="Live calls that started today (PBX day)")
    by_enterprise: list[TodayRow]


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "healthy", "database": "ok", "last_live_sync": "2025-07-03T09:15:02Z",
        "last_live_sync_age_s": 42.0, "max_live_sync_age_s": 900.0, "active_enterprises": 5,
        "stale_enterprises": [], "reason": None}]})

    status: str = Field(description='"healthy" (200) or "unhealthy" (503)')
    database: str
    last_live_sync: datetime | None
    last_live_sync_age_s: float | None
    max_live_sync_age_s: float
    active_enterprises: int | None
    stale_enterprises: list[str] = Field(description="Active enterprises whose own last live sync is too old")
    reason: str | None


class Root(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "service": "asterisk-pipeline sync sidecar", "version": "0.1.0", "status": "running",
        "active_enterprises": ["0100", "0200", "0201", "0327", "0367"],
        "dagster_url": "http://127.0.0.1:3000", "docs": "/docs"}]})

    service: str
    version: str
    status: str
    active_enterprises: list[str]
    dagster_url: str
    docs: str
