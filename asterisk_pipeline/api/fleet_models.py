"""Answers of ``GET /fleet/health`` (SPEC §4.8): each enterprise's status with its evidence."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class EnterpriseHealth(BaseModel):
    """One enterprise (or one skipped ``enterprises`` row, its number shown escaped)."""

    enterprise_id: str
    status: Literal["ok", "stale", "failing", "skipped", "unknown"]
    reason: str = Field(description="Why this status, in words")
    timezone: str | None = Field(description="The PBX's time zone (None for a skipped row)")
    newest_event_at: datetime | None = Field(description="Newest stored event (UTC)")
    newest_event_pbx_time: str | None = Field(description="The same, on the PBX's clock")
    last_successful_sync: datetime | None = Field(description="Last successful live sync")
    last_failed_sync: datetime | None = Field(description="Last failed live sync")
    consecutive_failures: int = Field(description="Failed live syncs since the last successful one")
    failing_since: datetime | None = Field(description="The first of those failures")
    last_error_kind: str | None
    last_error: str | None
    clock_offset_s: float | None = Field(description="PBX clock minus central clock, when measured (SSH)")
    rows_today: int = Field(description="Source rows the live syncs read today (PBX day)")
    rejected_today: int
    rejected_share_today: float | None


class FleetHealth(BaseModel):
    """Every active enterprise by number, then the skipped rows; counts per status."""

    model_config = {"json_schema_extra": {"examples": [{
        "generated_at": "2025-07-03T09:15:00+00:00", "counts": {"ok": 1, "failing": 1},
        "enterprises": [],
    }]}}

    generated_at: datetime
    counts: dict[str, int]
    enterprises: list[EnterpriseHealth]
