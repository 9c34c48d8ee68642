"""``/fleet/health``, ``/fleet/health/{enterprise}``: which PBX is silent or failing (SPEC §4.8).

The status is decided by the core's rules on the warehouse's evidence (``sync/health.py``), the
same function the CLI's ``fleet health`` and ``/metrics`` call.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException
from sqlalchemy import Connection

from ...fleet_health import Health
from ...sync.health import fleet_health, health_record
from ..fleet_models import EnterpriseHealth, FleetHealth
from ..models import Error
from ..state import State
from .params import UNAVAILABLE, EnterprisePath

router = APIRouter()


def _read(state: State) -> tuple[datetime, list[Health]]:
    now = datetime.now(UTC)
    fleet = state.fleet

    def collect(conn: Connection) -> list[Health]:
        return fleet_health(conn, fleet, now)
    return now, state.read(collect)


@router.get("/fleet/health", response_model=FleetHealth, responses=UNAVAILABLE,
            summary="Status of every active enterprise with its evidence, and the skipped rows")
def fleet(state: State) -> FleetHealth:
    now, healths = _read(state)
    return FleetHealth(
        generated_at=now, counts=dict(Counter(h.status for h in healths)),
        enterprises=[EnterpriseHealth.model_validate(health_record(h)) for h in healths],
    )


@router.get("/fleet/health/{enterprise}", response_model=EnterpriseHealth,
            responses={404: {"model": Error, "description": "Unknown or inactive enterprise"},
                       422: {"model": Error, "description": "Not an enterprise number"}, **UNAVAILABLE},
            summary="Status of one active enterprise with its evidence")
def one(state: State, enterprise: EnterprisePath) -> EnterpriseHealth:
    _, healths = _read(state)
    for health in healths:
        if health.status != "skipped" and health.evidence.enterprise == enterprise:
            return EnterpriseHealth.model_validate(health_record(health))
    raise HTTPException(404, f"enterprise {enterprise} is unknown or not active")
