"""``POST /sync/live/all`` and ``POST /sync/live/{enterprise}``: a live sync as a Dagster run."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..models import SyncStarted
from ..state import State
from ..syncs import AlreadyRunning
from .answers import answer, conflict
from .params import SYNC_ERRORS, EnterprisePath, Waiting, enterprise_segment

router = APIRouter()


@router.post("/sync/live/all", status_code=202, response_model=SyncStarted, responses=SYNC_ERRORS,
             summary="Live sync of every active enterprise")
async def sync_live_all(state: State, waiting: Waiting) -> JSONResponse:
    numbers = await run_in_threadpool(state.active_numbers)
    if not numbers:
        raise HTTPException(404, "no active enterprises")
    try:
        started = await state.dagster(state.launcher.start_live(numbers, everyone=True))
    except AlreadyRunning as busy:
        return conflict(busy, "live")
    return await answer(state, started, f"live sync started for {len(numbers)} enterprises", None, waiting)


@router.post(f"/sync/live/{enterprise_segment('all', 'status', 'today')}", status_code=202,
             response_model=SyncStarted, responses=SYNC_ERRORS, summary="Live sync of one enterprise")
async def sync_live_one(state: State, enterprise: EnterprisePath, waiting: Waiting) -> JSONResponse:
    await run_in_threadpool(state.require_active, enterprise)
    try:
        started = await state.dagster(state.launcher.start_live([enterprise], everyone=False))
    except AlreadyRunning as busy:
        return conflict(busy, f"live {enterprise}")
    return await answer(state, started, f"live sync started for {enterprise}", enterprise, waiting)
