"""Answers of the read endpoints ``GET /calls``, ``/calls/{enterprise}/{unique_id}``, ``/stats``
(SPEC §5): one found call, a page of them, and the §4.5 statistics rows."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class FoundCall(BaseModel):
    """One conversation as a search answers it (``calls`` columns; never the token)."""

    id: int
    enterprise_id: str
    unique_id: str = Field(description="The primary UniqueId (`GET /calls/{enterprise}/{unique_id}` shows it whole)")
    start_time: datetime | None = Field(description="UTC; null when the PBX gave no usable time")
    end_time: datetime | None
    duration: int | None = Field(description="Seconds")
    phone_number: str | None = Field(description="The other side's number as the PBX wrote it")
    call_type: str | None = Field(description="Direction: '0' incoming, '1' outgoing, '2' internal")
    call_status: str | None
    is_answered: bool
    answered_by: str | None
    answered_at: datetime | None
    main_extension: str | None
    final_extension: str | None
    transfer_chain: list[str] | None = Field(description="The parties that held it, in order")
    extensions_count: int
    leg_count: int
    shape: str | None
    trunk: str | None
    data_source: str


class CallPage(BaseModel):
    """A page of ``GET /calls``: newest first; ``next`` fetches the following page."""

    calls: list[FoundCall]
    count: int = Field(description="Calls on this page")
    limit: int
    next: str | None = Field(description="Opaque cursor: pass it as `next=` with the same filters; "
                             "null on the last page")


class CallStatsRow(BaseModel):
    enterprise_id: str
    data_source: str
    day: str | None = Field(description="PBX-local date (by=day)")
    calls: int
    answered: int
    answered_share: float
    avg_duration: float | None
    legs_folded: int
    transfers: int


class ExtensionStatsRow(BaseModel):
    enterprise_id: str
    extension: str
    rang: int
    answered: int
    missed: int
    missed_unanswered: int = Field(description="Rang, and nobody held the conversation")
    missed_answered_elsewhere: int = Field(description="Rang, and a colleague held it")


class ShapeStatsRow(BaseModel):
    enterprise_id: str
    shape: str
    calls: int
    answered: int
    answered_share: float
    avg_duration: float | None
    day: str | None


class StatsAnswer(BaseModel):
    """SPEC §4.5 over conversations of a range of PBX-local days."""

    by: Literal["enterprise", "day", "extension", "shape"]
    enterprises: list[str] | None = Field(description="As asked; null: the whole fleet")
    date_from: str | None
    date_to: str | None
    rows: list[CallStatsRow] | list[ExtensionStatsRow] | list[ShapeStatsRow]


#: ``GET /calls/{enterprise}/{unique_id}``: ``calls show --json`` (call, legs, participants, timeline).
CallDetail = dict[str, Any]
