"""The REST sidecar: the old sync service's endpoints, with the work done as Dagster runs.

Reads answer from the warehouse (index-backed queries, cached until the next import commits);
syncs start through the Dagster webserver's GraphQL API. See SPEC.md §5 and the README.

``create_app`` only assembles: the shared state (``state.py``), the error shape
(``errors.py``), the body limits (``limits.py``), the offline docs, and one router per area
(``routers/``). Why most sync endpoints are ``async``: their Dagster calls run on the gate's
own threads (``gate.py``) and their waits (for a launch in progress, for ``?wait=true``) hold
no thread, so FastAPI's shared thread pool stays free for ``/health`` and the warehouse reads
whatever the Dagster webserver does.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from .. import __version__
from ..pbx.fleet import Fleet
from ..settings import Settings
from ..warehouse.db import make_engine, mask_url
from . import errors
from .dagster_client import DagsterClient
from .limits import MAX_BODY_BYTES, BodyLimit
from .routers import calls, fleet, history, info, live, missed, status
from .state import ApiState, require_token

#: Where the Swagger UI and ReDoc assets are served from (this process, never a CDN).
DOCS_ASSETS = "/docs/assets"


def create_app(settings: Settings | None = None, client: DagsterClient | None = None) -> FastAPI:
    settings = settings or Settings()
    state = ApiState(settings=settings, engine=make_engine(settings.resolved_database_url),
                     client=client or DagsterClient(settings.dagster_url),
                     fleet=Fleet.load(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    # FastAPIOffline: FastAPI with /docs (Swagger UI) and /redoc served from the assets that
    # the fastapi-offline package ships, so the docs work on a machine without internet.
    app = FastAPIOffline(
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        title="asterisk-pipeline sync sidecar",
        version=__version__,
        description="The old sync service's HTTP API on port 8007. Syncs run as Dagster runs "
        f"(UI: {mask_url(settings.dagster_url)}); reads come from the central database. Request bodies over "
        f"{MAX_BODY_BYTES} bytes answer 413 unread; a body must arrive within "
        f"{settings.api_client_timeout_s:g} s (else 408). Every error answers "
        '`{"detail": "<one sentence>", "errors": [...]}` (`errors`: each invalid input of a 422); '
        "a method a path does not take answers 405 with an `Allow` header.",
    )
    app.state.api = state
    errors.install(app)
    # Outermost: a body is bounded and complete before routing, parsing or the token check.
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, timeout_s=settings.api_client_timeout_s)
    # The OpenAPI schema tells the truth: POSTs declare the bearer scheme only when it is enforced.
    guarded = [Depends(require_token)] if settings.api_token is not None else []
    app.include_router(info.router)
    app.include_router(status.router)
    app.include_router(live.router, dependencies=guarded)
    app.include_router(history.router, dependencies=guarded)
    app.include_router(fleet.router)
    app.include_router(missed.router)
    app.include_router(calls.router)
    return app
