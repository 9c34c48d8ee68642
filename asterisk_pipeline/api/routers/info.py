"""``/``, ``/health``, ``/metrics``, ``/enterprises``: what the sidecar is and how it is doing."""
from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from ... import __version__
from ...sync.health import fleet_health
from .. import health as rules
from .. import queries
from ..metrics import SyncState, render_metrics
from ..models import EnterpriseOut, Enterprises, Health, Root
from ..state import State
from .params import UNAVAILABLE, UNAVAILABLE_JSON

router = APIRouter()


@router.get("/", response_model=Root, responses=UNAVAILABLE, summary="Service name, version, status, active enterprises")
def root(state: State) -> Root:
    return Root(service="asterisk-pipeline sync sidecar", version=__version__, status="running",
                active_enterprises=state.active_numbers(), dagster_url=state.settings.dagster_url, docs="/docs")


@router.get("/health", response_model=Health, responses={503: {"model": Health}},
            summary="200 when the database answers and the last live sync is recent, else 503")
def health(state: State) -> JSONResponse:
    max_age = state.settings.health_max_live_age_minutes * 60
    try:
        with state.engine.connect() as conn:
            report = rules.check(conn, datetime.now(UTC), max_age)
    except SQLAlchemyError as exc:
        report = rules.database_down(exc, max_age)
    return JSONResponse(status_code=rules.status_code(report), content=report.model_dump(mode="json"))


@router.get("/metrics", response_class=PlainTextResponse, responses=UNAVAILABLE_JSON,
            summary="Prometheus metrics: syncs, failed syncs, rejected rows, calls, last success age, "
            "fleet health status and event lag per enterprise")
def metrics(state: State) -> PlainTextResponse:
    now, fleet = datetime.now(UTC), state.fleet

    def collect(conn: Connection) -> str:
        marker = queries.change_marker(conn)
        return render_metrics(SyncState(
            sync_counts=state.cache.get("sync_counts", marker, lambda: queries.sync_counts(conn)),
            download_sync=queries.download_sync_rows(conn),
            last_live=queries.last_success_by_enterprise(conn, "live"),
            last_history=queries.last_success_by_enterprise(conn, "history"),
            breakdown=state.cache.get("breakdown", marker, lambda: queries.enterprise_breakdown(conn)),
            health=fleet_health(conn, fleet, now),
        ), now=now)
    return PlainTextResponse(state.read(collect), media_type="text/plain; version=0.0.4")


@router.get("/enterprises", response_model=Enterprises, responses=UNAVAILABLE,
            summary="Active enterprises (secret masked)")
def list_enterprises(state: State) -> Enterprises:
    rows = state.read(queries.active_enterprises)
    return Enterprises(count=len(rows), enterprises=[
        EnterpriseOut(enterprise_id=r.number, name=r.name, host=r.host, ip=r.ip, token=r.token,
                      secret="********" if r.has_secret else None) for r in rows])
