"""``GET /missed``: missed calls with their follow-up (SPEC §4.7, §5).

A page of ``limit`` rows by (missed_at, call_id) with a keyset cursor ``next`` (a row never
skipped or repeated while new ones arrive: the cursor names a position, not an offset), or with
``format=csv`` every matching row streamed page by page from the warehouse (memory holds one
page, however many rows). Statuses are as of the answer: an 'open' row past its window reads
'expired'. ``date_from``/``date_to`` are PBX-local days of the missed call (the enterprise's
zone, else the fleet's), both inclusive.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ...followup import STATUSES
from ...missed_report import CSV_COLUMNS, csv_cells, local_days, record
from ...warehouse.missed import Keyset, MissedFilter, iter_missed, missed_page
from ...warehouse.search import Position, unknown_enterprises
from .. import pages
from ..models import NUMBER_PATTERN, Error
from ..state import ApiState, State
from .params import UNAVAILABLE

router = APIRouter()

MAX_LIMIT = 10_000
_DAY = r"^\d{4}-\d{2}-\d{2}$"


class MissedCallOut(BaseModel):
    enterprise_id: str
    call_id: int
    unique_id: str = Field(description="The missed conversation's primary UniqueId")
    phone_number: str | None
    missed_at: datetime
    status: Literal["open", "called_back", "got_through", "expired"]
    resolved_call_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="called_back: the extension that called; got_through: who answered")
    seconds_to_resolution: int | None
    callback_attempts: int = Field(description="Unanswered outgoing calls to the number before the resolution")
    expires_at: datetime = Field(description="End of the follow-up window")


class MissedPage(BaseModel):
    missed: list[MissedCallOut]
    count: int
    next: str | None = Field(description="Pass as `next` for the next page; null on the last page")
    as_of: datetime = Field(description="The clock the statuses are read at")


def _invalid(field: str, message: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"loc": ["query", field], "msg": message, "type": "value_error", "input": value}])


def _day(field: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _invalid(field, f"not a calendar day: {exc}", value) from None


def _filter(state: ApiState, query: tuple[str | None, str | None, str | None, str | None]) -> MissedFilter:
    enterprise, status, date_from, date_to = query
    first, last = _day("date_from", date_from), _day("date_to", date_to)
    if first and last and first > last:
        raise _invalid("date_from", f"date_from {first} is after date_to {last}", date_from)
    if enterprise is not None and state.read(lambda conn: unknown_enterprises(conn, (enterprise,))):
        # as GET /calls: an enterprise that left the table but has calls can still be exported
        raise HTTPException(404, f"enterprise {enterprise} is unknown (neither in enterprises nor in calls)")
    zone = state.zone if enterprise is None else state.fleet.timezone(enterprise)
    low, high = local_days(first, last, zone)
    return MissedFilter(datetime.now(UTC), enterprise, status, low, high)



def _csv_stream(state: ApiState, flt: MissedFilter) -> Iterator[bytes]:
    """The CSV, one warehouse page at a time (its own connection, held while it streams)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    with state.engine.connect() as conn:
        for n, row in enumerate(iter_missed(conn, flt), start=1):
            writer.writerow(csv_cells(row))
            if n % 1000 == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode()


class MissedQuery(BaseModel):
    """The query parameters of ``GET /missed`` (a FastAPI query-parameter model)."""

    model_config = {"extra": "forbid"}

    enterprise_id: str | None = Field(default=None, pattern=NUMBER_PATTERN, description="Only this enterprise")
    status: Literal["open", "called_back", "got_through", "expired"] | None = Field(
        default=None, description="Only this status (as of now)")
    date_from: str | None = Field(default=None, pattern=_DAY, description="First PBX-local day, YYYY-MM-DD")
    date_to: str | None = Field(default=None, pattern=_DAY, description="Last PBX-local day, YYYY-MM-DD, inclusive")
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT, description="Rows per page (JSON)")
    next: str | None = Field(default=None, min_length=1, max_length=pages.MAX_CURSOR_CHARS,
                             description="The `next` of the previous page, as is (same filters)")
    format: Literal["json", "csv"] = Field(default="json", description="csv: every matching row, streamed")


@router.get(
    "/missed", response_model=MissedPage,
    responses={**UNAVAILABLE, 404: {"model": Error, "description": "An enterprise_id neither in enterprises nor in calls"},
               422: {"model": Error, "description": "Invalid filter, date, limit or cursor"},
               200: {"content": {"text/csv": {}}, "description": "A page (JSON), or with format=csv every row"}},
    summary="Missed calls and their follow-up (called back, got through, open, expired)",
)
def missed(state: State, query: Annotated[MissedQuery, Query()]) -> Any:
    assert query.status is None or query.status in STATUSES
    flt = _filter(state, (query.enterprise_id, query.status, query.date_from, query.date_to))
    if query.format == "csv":
        state.read(lambda conn: None)  # 503 now, before a 200 has started, when the database is down
        return StreamingResponse(_csv_stream(state, flt), media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="missed.csv"'})
    try:
        position = pages.decode(query.next, flt) if query.next is not None else None
        if position is not None and position.start is None:  # every missed call has its moment
            raise pages.BadCursor("not a cursor of this API (bad position)")
    except pages.BadCursor as bad:
        raise _invalid("next", str(bad), query.next) from None
    limit = query.limit
    after = (position.start, position.id) if position is not None and position.start is not None else None
    rows = state.read(lambda conn: missed_page(conn, flt, Keyset(limit + 1, after)))
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = pages.encode(Position(rows[-1].missed_at, rows[-1].call_id), flt) if more else None
    return MissedPage(missed=[MissedCallOut(**record(r)) for r in rows], count=len(rows), next=nxt, as_of=flt.now)
