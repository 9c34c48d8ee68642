"""``GET /calls`` (search, keyset pages, streamed CSV), ``GET /calls/{enterprise}/{unique_id}``
(one conversation as ``calls show --json`` gives it) and ``GET /stats`` (SPEC §4.5).

The queries are the CLI's own (``warehouse/search.py``, ``call_view.py``, ``stats.py``); this
module only reads the parameters, answers 4xx for bad ones, and shapes the answer.
Why the CSV opens a connection per page: a client reading a million rows for minutes holds no
transaction and no more than one page of rows in this process.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from ...csv_export import csv_chunks
from ...model import SHAPES
from ...numbers import number_key
from ...warehouse.call_view import call_detail, find_calls, unlinked_leg
from ...warehouse.search import (
    COLUMNS,
    DIRECTIONS,
    CallFilter,
    Zones,
    iter_calls,
    search_calls,
    unknown_enterprises,
)
from ...warehouse.stats import DayRange, StatsScope, call_stats, extension_stats, shape_stats
from .. import pages
from ..call_models import CallDetail, CallPage, StatsAnswer
from ..models import NUMBER_PATTERN, Error, StrictDate
from ..ranges import InvalidRange, read_range
from ..state import ApiState, State
from .params import UNAVAILABLE, EnterprisePath

router = APIRouter()

#: Page size of ``GET /calls`` without ``limit``, and the largest one allowed.
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
#: Rows per keyset batch of a CSV export.
CSV_BATCH = 2_000

READ_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Error, "description": "An enterprise_id neither in enterprises nor in calls"},
    431: {"model": Error, "description": "Request line and headers larger than 64 KiB"},
    422: {"model": Error, "description": "Invalid input (each one in `errors`): a malformed number, "
          "reversed dates, an unknown direction or shape, a limit out of range, a forged cursor"},
    **UNAVAILABLE,
}

EnterpriseIds = list[Annotated[str, Field(pattern=NUMBER_PATTERN)]] | None
_ENTERPRISES = ("Enterprise number; repeat for several (`enterprise_id=0327&enterprise_id=0100`), "
                "at most 100. Default: all. One neither in enterprises nor in calls is a 404")
_DATE_FROM = "First PBX-local day of the start, YYYY-MM-DD (inclusive)"
_DATE_TO = "Last PBX-local day of the start, YYYY-MM-DD (inclusive); before date_from is a 422"


class CallQuery(BaseModel):
    """The filters of ``GET /calls``: every one given must hold."""

    enterprise_id: EnterpriseIds = Field(default=None, max_length=100, description=_ENTERPRISES)
    number: str | None = Field(default=None, min_length=1, max_length=64, description=(
        "The other side's number in any spelling (`+375 29 123-45-67`, `80291234567`, `375291234567` are one "
        "number, SPEC §4.7: equal digits, or the same last 9 digits); an extension finds the internal calls it "
        "placed. Without a digit: 422"))
    extension: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[^\x00]+$", description=(
        "A party that rang or held the conversation: a call_participants row (an extension, or an outside "
        "forwarding target such as a mobile). main_extension, answered_by and final_extension are always "
        "participants"))
    date_from: StrictDate | None = Field(default=None, description=_DATE_FROM)
    date_to: StrictDate | None = Field(default=None, description=_DATE_TO)
    direction: Literal["0", "1", "2", "incoming", "outgoing", "internal"] | None = Field(
        default=None, description="0 or incoming, 1 or outgoing, 2 or internal (calls.call_type)")
    answered: bool | None = Field(default=None, description="true: someone held it; false: nobody did")
    shape: str | None = Field(default=None, pattern=f"^({'|'.join(SHAPES)})$",
                              description=f"What happened (SPEC §4.2): one of {', '.join(SHAPES)}")


class StatsQuery(BaseModel):
    """The parameters of ``GET /stats``."""

    enterprise_id: EnterpriseIds = Field(default=None, max_length=100, description=_ENTERPRISES)
    date_from: StrictDate | None = Field(default=None, description=_DATE_FROM)
    date_to: StrictDate | None = Field(default=None, description=_DATE_TO)
    by: Literal["day", "extension", "shape"] | None = Field(default=None, description=(
        "Default: per enterprise and data source. day: also per PBX-local day; extension: rang, answered, "
        "missed_unanswered, missed_answered_elsewhere; shape: per conversation shape"))


def _invalid(field: str, message: str, given: Any) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error",
                                    "input": given}])


def _days(date_from: date | None, date_to: date | None) -> DayRange:
    try:
        first, last = read_range(date_from, date_to)
    except InvalidRange as bad:
        given = {"date_from": date_from, "date_to": date_to}
        raise RequestValidationError([
            {"loc": ("query", p.field), "msg": p.message, "type": "value_error", "input": str(given[p.field])}
            for p in bad.problems]) from bad
    return DayRange(first, last)


def _zones(state: ApiState) -> Zones:
    return Zones(state.fleet.default_timezone, state.fleet.zone_exceptions())


def _call_filter(state: State, query: Annotated[CallQuery, Query()]) -> CallFilter:
    key = None
    if query.number is not None:
        key = number_key(query.number)
        if key is None:
            raise _invalid("number", "a number needs at least one digit", query.number)
    direction = query.direction
    return CallFilter(
        enterprises=tuple(dict.fromkeys(query.enterprise_id or ())), phone_key=key, extension=query.extension,
        days=_days(query.date_from, query.date_to), zones=_zones(state),
        direction=DIRECTIONS.get(direction, direction) if direction else None, answered=query.answered,
        shape=query.shape,
    )


def _require_known(conn: Connection, numbers: tuple[str, ...]) -> None:
    unknown = unknown_enterprises(conn, numbers)
    if unknown:
        raise HTTPException(404, f"enterprise {', '.join(unknown)} is unknown (neither in enterprises nor in calls)")


_CSV_ANSWER: dict[int | str, dict[str, Any]] = {200: {
    "model": CallPage,
    "description": "A page of calls (JSON), or with `format=csv` every matching call, streamed",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}}


@router.get("/calls", response_model=CallPage, responses={**_CSV_ANSWER, **READ_ERRORS},
            summary="Search conversations by number, extension, days, direction, answer, shape")
def search(
    state: State,
    wanted: Annotated[CallFilter, Depends(_call_filter)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Calls per page (JSON only)")] = DEFAULT_LIMIT,
    next: Annotated[str | None, Query(
        min_length=1, max_length=pages.MAX_CURSOR_CHARS,
        description="The `next` of the previous page (same filters): continues after its last call")] = None,
    format: Annotated[Literal["json", "csv"], Query(
        description="csv: every matching call (from `next` on, when given), newest first, streamed; "
        "cells starting with = + - @ are prefixed with ' unless they are plain numbers")] = "json",
) -> Response:
    try:
        after = pages.decode(next, wanted) if next is not None else None
    except pages.BadCursor as bad:
        raise _invalid("next", str(bad), next) from bad
    if format == "csv":
        state.read(lambda conn: _require_known(conn, wanted.enterprises))
        rows = iter_calls(state.engine, wanted, CSV_BATCH, after)
        return StreamingResponse(csv_chunks(COLUMNS, rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="calls.csv"'})

    def page(conn: Connection) -> str:
        found = search_calls(conn, wanted, limit, after)
        listed = {row["enterprise_id"] for row in found.rows}  # an enterprise with calls is known
        _require_known(conn, tuple(e for e in wanted.enterprises if e not in listed))
        cursor = pages.encode(found.next, wanted) if found.next is not None else None
        # Serialized as `calls search --json` does (ISO times), without a model per row: CallPage
        # documents the answer; the rows are the columns it names.
        return json.dumps({"calls": found.rows, "count": len(found.rows), "limit": limit, "next": cursor},
                          default=_iso, ensure_ascii=False, separators=(",", ":"))
    return Response(state.read(page), media_type="application/json")


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@router.get("/calls/{enterprise}/{unique_id}", response_model=CallDetail,
            responses={404: {"model": Error, "description": "No call of the enterprise holds the UniqueId"},
                       422: READ_ERRORS[422], 431: READ_ERRORS[431], **UNAVAILABLE},
            summary="One conversation as `calls show --json` gives it (by its primary or any leg UniqueId)")
def show(state: State, enterprise: EnterprisePath,
         unique_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$", description="Any UniqueId of the call",
                                        examples=["1751530000.123"])]) -> Response:
    def detail(conn: Connection) -> str:
        found = find_calls(conn, unique_id, enterprise)
        if found:
            return json.dumps(call_detail(conn, found[0]["id"]), default=lambda v: v.isoformat(), ensure_ascii=False)
        loose = unlinked_leg(conn, unique_id, enterprise)
        if loose:  # what `calls show --json` prints for a forwarding leg no call holds
            return json.dumps({"unlinked_forwarding_leg": loose}, default=str, ensure_ascii=False)
        raise HTTPException(404, f"no call of enterprise {enterprise} holds UniqueId {unique_id}")
    return Response(state.read(detail), media_type="application/json")


@router.get("/stats", response_model=StatsAnswer, responses=READ_ERRORS,
            summary="Calls, answered share, average duration (SPEC §4.5), per day or per extension")
def stats(state: State, query: Annotated[StatsQuery, Query()]) -> StatsAnswer:
    days, by = _days(query.date_from, query.date_to), query.by
    numbers = tuple(dict.fromkeys(query.enterprise_id or ()))
    scope = StatsScope(set(numbers) or None, days, state.fleet.timezone)

    def figures(conn: Connection) -> list[Any]:
        _require_known(conn, numbers)
        if by == "extension":
            return extension_stats(conn, scope)
        if by == "shape":
            return shape_stats(conn, scope)
        return call_stats(conn, scope, by_day=by == "day")
    rows = [asdict(r) for r in state.read(figures)]
    return StatsAnswer.model_validate({
        "by": by or "enterprise", "enterprises": list(numbers) or None, "rows": rows,
        "date_from": days.first.isoformat() if days.first else None,
        "date_to": days.last.isoformat() if days.last else None,
    })
