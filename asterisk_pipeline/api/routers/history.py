"""``POST /sync/all`` and ``POST /sync/{enterprise}``: a history import as one Dagster backfill
over (day, enterprise) partitions."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..models import HistorySyncRequest, SyncStarted
from ..ranges import InvalidRange, history_range
from ..state import ApiState, State
from ..syncs import AlreadyRunning
from .answers import answer, conflict
from .params import SYNC_ERRORS, EnterprisePath, Waiting, WaitRequest, enterprise_segment

router = APIRouter()

HistoryBody = Annotated[HistorySyncRequest | None, Body(openapi_examples={
    "range": {"summary": "A date range", "value": {"enterprise_id": "0327", "force_all": False,
                                                    "date_from": "2025-06-22", "date_to": "2025-07-03"}},
    "force": {"summary": "Re-import the last days", "value": {"force_all": True}},
})]


async def start_history(state: ApiState, numbers: list[str], request: HistorySyncRequest, enterprise: str | None,
                        waiting: WaitRequest) -> JSONResponse:
    settings = state.settings
    try:
        first, last = history_range(request.date_from, request.date_to, today=state.today(),
                                    start=settings.history_start, default_days=settings.api_history_default_days)
    except InvalidRange as bad:  # a 422 like any other invalid body: each problem under its field
        given = {"date_from": request.date_from, "date_to": request.date_to}
        raise RequestValidationError([
            {"loc": ("body", p.field), "msg": p.message, "type": "value_error", "input": str(given[p.field])}
            for p in bad.problems]) from bad
    try:
        started = await state.dagster(state.launcher.start_history(
            numbers, first, last, force=request.force_all, everyone=enterprise is None))
    except AlreadyRunning as busy:
        return conflict(busy, f"history {enterprise or ''}".strip())
    who = enterprise or f"{len(numbers)} enterprises"
    return await answer(state, started, f"history sync {first}..{last} started for {who}", enterprise, waiting,
                        date_from=first, date_to=last, force_all=request.force_all,
                        partitions=started.partitions)


@router.post("/sync/all", status_code=202, response_model=SyncStarted, responses=SYNC_ERRORS,
             summary="History import for every active enterprise")
async def sync_history_all(state: State, waiting: Waiting, body: HistoryBody = None) -> JSONResponse:
    numbers = await run_in_threadpool(state.active_numbers)
    if not numbers:
        raise HTTPException(404, "no active enterprises")
    return await start_history(state, numbers, body or HistorySyncRequest(), None, waiting)


@router.post(f"/sync/{enterprise_segment('all', 'status')}", status_code=202, response_model=SyncStarted,
             responses=SYNC_ERRORS, summary="History import of one enterprise (APIlogs)")
async def sync_history_one(state: State, enterprise: EnterprisePath, waiting: Waiting,
                           body: HistoryBody = None) -> JSONResponse:
    await run_in_threadpool(state.require_active, enterprise)  # the path wins over the body's enterprise_id
    return await start_history(state, [enterprise], body or HistorySyncRequest(), enterprise, waiting)
