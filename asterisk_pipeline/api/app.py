"""The REST sidecar: the old sync service's endpoints, with the work done as Dagster runs.

Reads answer from the warehouse (index-backed queries, cached until the next import commits);
syncs start through the Dagster webserver's GraphQL API. See SPEC.md §5 and the README.

Why most sync endpoints are ``async``: their Dagster calls run on the gate's own threads
(``gate.py``) and their waits (for a launch in progress, for ``?wait=true``) hold no thread, so
FastAPI's shared thread pool stays free for ``/health`` and the warehouse reads whatever the
Dagster webserver does.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..model import Flow
from ..names import ALL_ENTERPRISES, FLOW_CHECKS, FLOW_LIVE, TAG_ENTERPRISES, TAG_FLOW
from ..pbx.fleet import Fleet
from ..settings import Settings
from ..warehouse.db import make_engine, mask_url
from . import queries
from .cache import MarkedCache
from .dagster_client import DagsterClient, DagsterUnavailable
from .gate import DagsterGate
from .limits import MAX_BODY_BYTES, BodyLimit, excerpt
from .metrics import render_metrics
from .models import (
    NUMBER_PATTERN,
    BreakdownRow,
    Conflict,
    DataSource,
    DownloadSyncRow,
    EnterpriseOut,
    Enterprises,
    Error,
    Health,
    HistorySyncRequest,
    LiveStatus,
    LiveToday,
    Root,
    RunningSync,
    SyncStarted,
    SyncStatus,
    TodayRow,
)
from .syncs import AlreadyRunning, Started, SyncLauncher

log = logging.getLogger(__name__)
T = TypeVar("T")

EnterprisePath = Annotated[str, Path(
    pattern=NUMBER_PATTERN, description="Enterprise number, e.g. 0327", examples=["0327"])]
Wait = Annotated[bool, Query(description="Block until the sync ends (up to `timeout` s) and return its statistics")]
Timeout = Annotated[float | None, Query(gt=0, description="Seconds ?wait=true may block (default and maximum: ASTERISK_API_WAIT_TIMEOUT_S)")]
#: Dagster run / backfill statuses that mean "it failed" (run_statistics lists why).
_FAILED_STATUSES = frozenset({"FAILURE", "CANCELED", "FAILED", "COMPLETED_FAILED"})
#: How long /sync/status waits for Dagster's list of running syncs before answering without it.
STATUS_DAGSTER_WAIT_S = 2.0

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Error, "description": "Database (or Dagster webserver) unavailable"},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"model": SyncStarted, "description": "With ?wait=true: the sync ended, statistics included"},
    400: {"model": Error, "description": "A body that cannot be read at all (not UTF-8 JSON)"},
    401: {"model": Error, "description": "A token is configured and the request lacks it"},
    404: {"model": Error, "description": "Unknown or inactive enterprise"},
    408: {"model": Error, "description": "The request body did not arrive in time (a slow client)"},
    409: {"model": Conflict, "description": "A sync of this flow is already queued or running for it"},
    413: {"model": Error, "description": f"Request body larger than {MAX_BODY_BYTES} bytes (refused unread)"},
    422: {"model": Error, "description": "Invalid input (enterprise number, dates, body types); "
          "the offending input is quoted at most as a short excerpt"},
    **_UNAVAILABLE,
}


def create_app(settings: Settings | None = None, client: DagsterClient | None = None) -> FastAPI:
    settings = settings or Settings()
    engine: Engine = make_engine(settings.resolved_database_url)
    client = client or DagsterClient(settings.dagster_url)
    gate = DagsterGate()
    launcher = SyncLauncher(client, gate)
    cache = MarkedCache()
    bearer = HTTPBearer(auto_error=False, description="ASTERISK_API_TOKEN, when configured")
    zone = Fleet.load(settings).default_timezone

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        gate.close()
        client.close()
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="asterisk-pipeline sync sidecar",
        version=__version__,
        description="The old sync service's HTTP API on port 8007. Syncs run as Dagster runs "
        f"(UI: {mask_url(settings.dagster_url)}); reads come from the central database. Request bodies over "
        f"{MAX_BODY_BYTES} bytes answer 413 unread; a body must arrive within "
        f"{settings.api_client_timeout_s:g} s (else 408).",
    )
    # Outermost: a body is bounded and complete before routing, parsing or the token check.
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, timeout_s=settings.api_client_timeout_s)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, with each error's ``input`` (and context) cut to a short excerpt."""
        errors = []
        for error in exc.errors():
            error = dict(error)
            if "input" in error:
                error["input"] = excerpt(error["input"])
            if isinstance(error.get("ctx"), dict):
                error["ctx"] = {k: excerpt(v if isinstance(v, str | int | float | bool) else str(v))
                                for k, v in error["ctx"].items()}
            errors.append(error)
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})

    def read(fn: Callable[[Connection], T]) -> T:
        try:
            with engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            log.warning("database unavailable: %s", type(exc).__name__)
            raise HTTPException(503, "central database unavailable") from exc

    def cached(name: str, fn: Callable[[Connection], T]) -> T:
        def run(conn: Connection) -> T:
            return cache.get(name, queries.change_marker(conn), lambda: fn(conn))
        return read(run)

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        expected = settings.api_token
        if expected is None:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    # The OpenAPI schema tells the truth: POSTs declare the bearer scheme only when it is enforced.
    guarded = [Depends(require_token)] if settings.api_token is not None else []

    def active_numbers() -> list[str]:
        return [e.number for e in read(queries.active_enterprises)]

    def require_active(number: str) -> None:
        if number not in active_numbers():
            raise HTTPException(404, f"enterprise {number} is unknown or not active")

    def today() -> date:
        return datetime.now(zone).date()

    def conflict(busy: AlreadyRunning, what: str) -> JSONResponse:
        body = Conflict(detail=f"a {what} sync is already queued or running ({busy.kind} {busy.id})",
                        kind=busy.kind, id=busy.id, dagster_url=busy.url)
        return JSONResponse(status_code=409, content=body.model_dump())

    async def answer(started: Started, message: str, enterprise: str | None, wait: bool,
                     timeout: float | None, **extra: Any) -> JSONResponse:
        log.info("%s sync %s %s started for %s: %s", started.flow, started.kind, started.id,
                 ",".join(started.enterprises), started.url)
        status, finished, statistics = "QUEUED", False, None
        if wait:
            limit = min(timeout or settings.api_wait_timeout_s, settings.api_wait_timeout_s)
            outcome = await dagster(launcher.wait(started, limit))
            log.info("%s %s ended waiting: %s (finished: %s)", started.kind, started.id, outcome.status,
                     outcome.done)
            status, finished = outcome.status, outcome.done
            failed = outcome.done and outcome.status in _FAILED_STATUSES
            statistics = await run_in_threadpool(
                read, lambda conn: queries.run_statistics(conn, outcome.run_ids, failed))
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

    async def dagster(work: Awaitable[T]) -> T:
        try:
            return await work
        except DagsterUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc

    async def active_numbers_async() -> list[str]:
        return await run_in_threadpool(active_numbers)

    # --- information ----------------------------------------------------------------------------

    @app.get("/", response_model=Root, responses=_UNAVAILABLE, summary="Service name, version, status, active enterprises")
    def root() -> Root:
        return Root(service="asterisk-pipeline sync sidecar", version=__version__, status="running",
                    active_enterprises=active_numbers(), dagster_url=settings.dagster_url, docs="/docs")

    @app.get("/health", response_model=Health, responses={503: {"model": Health}},
             summary="200 when the database answers and the last live sync is recent, else 503")
    def health() -> JSONResponse:
        max_age = settings.health_max_live_age_minutes * 60
        try:
            with engine.connect() as conn:
                queries.ping(conn)
                last = queries.last_success_by_enterprise(conn, "live")
        except SQLAlchemyError as exc:
            body = Health(status="unhealthy", database="unavailable", last_live_sync=None,
                          last_live_sync_age_s=None, max_live_sync_age_s=max_age, active_enterprises=None,
                          stale_enterprises=[], reason=f"central database unavailable ({type(exc).__name__})")
            return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
        now = datetime.now(UTC)
        newest = max((t for t in last.values() if t), default=None)
        age = (now - newest).total_seconds() if newest else None
        stale = sorted(n for n, t in last.items() if t is None or (now - t).total_seconds() > max_age)
        reason = None
        if last and newest is None:
            reason = "no successful live sync yet"
        elif age is not None and age > max_age:
            reason = f"last successful live sync is {age / 60:.1f} min old (limit {max_age / 60:.0f} min)"
        body = Health(status="unhealthy" if reason else "healthy", database="ok", last_live_sync=newest,
                      last_live_sync_age_s=round(age, 1) if age is not None else None,
                      max_live_sync_age_s=max_age, active_enterprises=len(last),
                      stale_enterprises=stale, reason=reason)
        return JSONResponse(status_code=503 if reason else 200, content=body.model_dump(mode="json"))

    @app.get("/metrics", response_class=PlainTextResponse, responses=_UNAVAILABLE,
             summary="Prometheus metrics: syncs, failures, rows, calls, last success age")
    def metrics() -> PlainTextResponse:
        def collect(conn: Connection) -> str:
            counts = cache.get("sync_counts", queries.change_marker(conn), lambda: queries.sync_counts(conn))
            return render_metrics(
                sync_counts=counts,
                download_sync=queries.download_sync_rows(conn),
                last_live=queries.last_success_by_enterprise(conn, "live"),
                last_history=queries.last_success_by_enterprise(conn, "history"),
                breakdown=cache.get("breakdown", queries.change_marker(conn),
                                    lambda: queries.enterprise_breakdown(conn)),
                now=datetime.now(UTC),
            )
        return PlainTextResponse(read(collect), media_type="text/plain; version=0.0.4")

    @app.get("/enterprises", response_model=Enterprises, responses=_UNAVAILABLE, summary="Active enterprises (secret masked)")
    def list_enterprises() -> Enterprises:
        rows = read(queries.active_enterprises)
        return Enterprises(count=len(rows), enterprises=[
            EnterpriseOut(enterprise_id=r.number, name=r.name, host=r.host, ip=r.ip, token=r.token,
                          secret="********" if r.has_secret else None) for r in rows])

    # --- live -------------------------------------------------------------------------------

    @app.get("/sync/live/status", response_model=LiveStatus, responses=_UNAVAILABLE,
             summary="Calls per data source and per enterprise; the auto-sync interval")
    def live_status() -> Response:
        # The whole answer is cached as JSON bytes until the next import: per request, the
        # change check (two index probes) and no re-validation/encoding of ~150 rows.
        def collect(conn: Connection) -> bytes:
            last = queries.last_success_by_enterprise(conn, "live")
            return LiveStatus(
                data_sources=[DataSource.model_validate(r) for r in queries.data_sources(conn)],
                enterprise_breakdown=[BreakdownRow.model_validate(r)
                                      for r in queries.enterprise_breakdown(conn)],
                auto_sync_interval=settings.live_interval_minutes,
                last_live_sync=max((t for t in last.values() if t), default=None),
            ).model_dump_json().encode()
        return Response(cached("live_status", collect), media_type="application/json")

    @app.get("/sync/live/today", response_model=LiveToday, responses=_UNAVAILABLE, summary="Live calls that started today (PBX day)")
    def live_today() -> LiveToday:
        day = today()
        start, end = queries.local_day_bounds(day, zone)

        def collect(conn: Connection) -> tuple[list[str], dict[str, int]]:
            return ([e.number for e in queries.active_enterprises(conn)],
                    queries.live_calls_between(conn, start, end))
        numbers, counts = cached(f"today:{day}", collect)
        rows = [TodayRow(enterprise_id=n, count=counts.get(n, 0)) for n in sorted(set(numbers) | set(counts))]
        return LiveToday(date=day, timezone=str(zone), live_calls=sum(counts.values()), by_enterprise=rows)

    @app.post("/sync/live/all", status_code=202, response_model=SyncStarted, responses=_ERRORS,
              dependencies=guarded, summary="Live sync of every active enterprise")
    async def sync_live_all(wait: Wait = False, timeout: Timeout = None) -> JSONResponse:
        numbers = await active_numbers_async()
        if not numbers:
            raise HTTPException(404, "no active enterprises")
        try:
            started = await dagster(launcher.start_live(numbers, everyone=True))
        except AlreadyRunning as busy:
            return conflict(busy, "live")
        return await answer(started, f"live sync started for {len(numbers)} enterprises", None, wait, timeout)

    @app.post("/sync/live/{enterprise}", status_code=202, response_model=SyncStarted, responses=_ERRORS,
              dependencies=guarded, summary="Live sync of one enterprise")
    async def sync_live_one(enterprise: EnterprisePath, wait: Wait = False, timeout: Timeout = None) -> JSONResponse:
        await run_in_threadpool(require_active, enterprise)
        try:
            started = await dagster(launcher.start_live([enterprise], everyone=False))
        except AlreadyRunning as busy:
            return conflict(busy, f"live {enterprise}")
        return await answer(started, f"live sync started for {enterprise}", enterprise, wait, timeout)

    # --- history ----------------------------------------------------------------------------

    def history_range(request: HistorySyncRequest) -> tuple[date, date]:
        """The inclusive day range of a history request; 422 for a range no partition covers."""
        last_day, start = today(), settings.history_start
        last = request.date_to or last_day
        problems = []
        if last > last_day:
            problems.append(f"date_to {last} is in the future (today is {last_day} on the PBX)")
        if request.date_to and last < start:
            problems.append(f"date_to {last} is before ASTERISK_HISTORY_START {start}")
        if request.date_from and request.date_from < start:
            problems.append(f"date_from {request.date_from} is before ASTERISK_HISTORY_START {start}")
        if problems:
            raise HTTPException(422, "; ".join(problems))
        span = timedelta(days=settings.api_history_default_days - 1)
        first = request.date_from or max(start, last - span)
        if first > last:
            raise HTTPException(422, f"date_from {first} is after date_to {last}")
        return first, last

    async def start_history(numbers: list[str], request: HistorySyncRequest, enterprise: str | None,
                            wait: bool, timeout: float | None) -> JSONResponse:
        first, last = history_range(request)
        try:
            started = await dagster(launcher.start_history(
                numbers, first, last, force=request.force_all, everyone=enterprise is None))
        except AlreadyRunning as busy:
            return conflict(busy, f"history {enterprise or ''}".strip())
        who = enterprise or f"{len(numbers)} enterprises"
        return await answer(started, f"history sync {first}..{last} started for {who}", enterprise, wait, timeout,
                      date_from=first, date_to=last, force_all=request.force_all, partitions=started.partitions)

    HistoryBody = Annotated[HistorySyncRequest | None, Body(openapi_examples={
        "range": {"summary": "A date range", "value": {"enterprise_id": "0327", "force_all": False,
                                                        "date_from": "2025-06-22", "date_to": "2025-07-03"}},
        "force": {"summary": "Re-import the last days", "value": {"force_all": True}},
    })]

    @app.post("/sync/all", status_code=202, response_model=SyncStarted, responses=_ERRORS,
              dependencies=guarded, summary="History import for every active enterprise")
    async def sync_history_all(body: HistoryBody = None, wait: Wait = False, timeout: Timeout = None) -> JSONResponse:
        numbers = await active_numbers_async()
        if not numbers:
            raise HTTPException(404, "no active enterprises")
        return await start_history(numbers, body or HistorySyncRequest(), None, wait, timeout)

    @app.post("/sync/{enterprise}", status_code=202, response_model=SyncStarted, responses=_ERRORS,
              dependencies=guarded, summary="History import of one enterprise (APIlogs)")
    async def sync_history_one(enterprise: EnterprisePath, body: HistoryBody = None, wait: Wait = False,
                               timeout: Timeout = None) -> JSONResponse:
        await run_in_threadpool(require_active, enterprise)  # the path wins over the body's enterprise_id
        return await start_history([enterprise], body or HistorySyncRequest(), enterprise, wait, timeout)

    running_state: dict[str, Any] = {}

    def collect_running() -> list[RunningSync]:
        """Our queued/running runs, and the backfills Dagster holds as requested: a backfill has
        no run until the daemon's next tick (~30 s), yet a new request for it already gets 409."""
        found = []
        for run in client.active_runs({}):
            if TAG_FLOW not in run.tags and "dagster/backfill" not in run.tags:
                continue
            if run.tags.get(TAG_FLOW) == FLOW_CHECKS:  # the warehouse checks' run is no sync
                continue
            backfill = run.tags.get("dagster/backfill")
            found.append(RunningSync(kind="backfill run" if backfill else "run", id=run.run_id,
                                     flow=run.tags.get(TAG_FLOW), status=run.status,
                                     enterprises=run.tags.get(TAG_ENTERPRISES, ALL_ENTERPRISES),
                                     dagster_url=client.run_url(run.run_id)))
        for requested in client.active_backfills():
            if TAG_FLOW not in requested.tags:
                continue
            found.append(RunningSync(kind="backfill", id=requested.backfill_id,
                                     flow=requested.tags.get(TAG_FLOW), status=requested.status,
                                     enterprises=requested.tags.get(TAG_ENTERPRISES, ALL_ENTERPRISES),
                                     dagster_url=client.backfill_url(requested.backfill_id)))
        return found

    async def running_syncs() -> tuple[list[RunningSync] | None, str]:
        """Dagster's answer, reused for 2 s unless this process launched something since; one
        question at a time (a hung webserver holds at most one gate thread for this), and a
        reader waits at most STATUS_DAGSTER_WAIT_S for it."""
        marker = (int(time.monotonic() // 2), launcher.launches)
        if running_state.get("marker") == marker:
            return running_state["value"]  # type: ignore[no-any-return]
        pending: asyncio.Future[list[RunningSync]] | None = running_state.get("pending")
        if pending is None or pending.done():
            pending = asyncio.ensure_future(gate.call(collect_running))
            running_state["pending"] = pending

            def keep(done: asyncio.Future[list[RunningSync]]) -> None:
                if done.cancelled():
                    return
                failure = done.exception()
                value = (None, str(failure)) if failure else (done.result(), "ok")
                running_state.update(marker=marker, value=value)
            pending.add_done_callback(keep)
        try:
            return await asyncio.wait_for(asyncio.shield(pending), STATUS_DAGSTER_WAIT_S), "ok"
        except DagsterUnavailable as exc:
            return None, str(exc)
        except TimeoutError:
            return None, f"Dagster webserver at {settings.dagster_url} did not answer within {STATUS_DAGSTER_WAIT_S:g} s"

    @app.get("/sync/status", response_model=SyncStatus, responses=_UNAVAILABLE,
             summary="download_sync rows per PBX, plus the syncs queued, running or requested in Dagster")
    async def sync_status() -> SyncStatus:
        rows = await run_in_threadpool(read, queries.download_sync_rows)
        active, state = await running_syncs()
        return SyncStatus(sync_status=[DownloadSyncRow.model_validate(r) for r in rows], running=active,
                          dagster=state)

    return app
