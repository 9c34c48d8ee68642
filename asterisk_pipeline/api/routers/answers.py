"""The answer to a sync request: 202 with the run or backfill, 200 with its statistics once it
ended (``?wait=true``), or 409 naming the sync already running."""
from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...model import Flow
from ...names import FLOW_LIVE
from .. import queries
from ..models import Conflict, SyncStarted
from ..state import ApiState
from ..syncs import AlreadyRunning, Started
from .params import WaitRequest

log = logging.getLogger(__name__)

#: Dagster run / backfill statuses that mean "it failed" (run_statistics lists why).
FAILED_STATUSES = frozenset({"FAILURE", "CANCELED", "FAILED", "COMPLETED_FAILED"})


def conflict(busy: AlreadyRunning, what: str) -> JSONResponse:
    body = Conflict(detail=f"a {what} sync is already queued or running ({busy.kind} {busy.id})",
                    kind=busy.kind, id=busy.id, dagster_url=busy.url)
    return JSONResponse(status_code=409, content=body.model_dump(mode="json"))


async def answer(state: ApiState, started: Started, message: str, enterprise: str | None, waiting: WaitRequest,
                 **extra: Any) -> JSONResponse:
    log.info("%s sync %s %s started for %s: %s", started.flow, started.kind, started.id,
             ",".join(started.enterprises), started.url)
    status, finished, statistics = "QUEUED", False, None
    if waiting.wait:
        most = state.settings.api_wait_timeout_s
        limit = min(waiting.timeout or most, most)
        outcome = await state.dagster(state.launcher.wait(started, limit))
        log.info("%s %s ended waiting: %s (finished: %s)", started.kind, started.id, outcome.status, outcome.done)
        status, finished = outcome.status, outcome.done
        failed = outcome.done and outcome.status in FAILED_STATUSES
        statistics = await run_in_threadpool(
            state.read, lambda conn: queries.run_statistics(conn, outcome.run_ids, failed))
    live = started.flow == FLOW_LIVE
    body = SyncStarted(
        message=message, enterprise_id=enterprise, enterprises=started.enterprises,
        type="live_events" if live else "historical_events",
        target_table=Flow.LIVE.table if live else Flow.HISTORY.table,
        run_id=started.id if started.kind == "run" else None,
        backfill_id=started.id if started.kind == "backfill" else None,
        dagster_url=started.url, status=status, finished=finished, statistics=statistics, **extra,
    )
    return JSONResponse(status_code=200 if finished else 202, content=body.model_dump(mode="json"))
