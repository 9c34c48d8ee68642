"""``/sync/status``, ``/sync/live/status``, ``/sync/live/today``: what has been synced, and
what is running. The answers are put together in ``api/status.py``."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from .. import queries, status
from ..models import LiveStatus, LiveToday, SyncStatus
from ..state import State
from .params import UNAVAILABLE

router = APIRouter()


@router.get("/sync/live/status", response_model=LiveStatus, responses=UNAVAILABLE,
            summary="Calls per data source and per enterprise; the auto-sync interval")
def live_status(state: State) -> Response:
    # The whole answer is cached as JSON bytes until the next import: per request, the change
    # check (two index probes) and no re-validation/encoding of ~150 rows.
    def collect(conn: Connection) -> bytes:
        return status.live_status(conn, state.settings.live_interval_minutes).model_dump_json().encode()
    return Response(state.cached("live_status", collect), media_type="application/json")


@router.get("/sync/live/today", response_model=LiveToday, responses=UNAVAILABLE,
            summary="Live calls that started today (PBX day)")
def live_today(state: State) -> LiveToday:
    day = state.today()
    active, counts = state.cached(f"today:{day}", lambda conn: status.today_inputs(conn, day, state.zone))
    return status.live_today(day, state.zone, active, counts)


@router.get("/sync/status", response_model=SyncStatus, responses=UNAVAILABLE,
            summary="download_sync rows per PBX, plus the syncs queued, running or requested in Dagster")
async def sync_status(state: State) -> SyncStatus:
    rows = await run_in_threadpool(state.read, queries.download_sync_rows)
    running, dagster = await state.running.get()
    return status.sync_status(rows, running, dagster)
