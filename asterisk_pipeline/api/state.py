"""What every endpoint of the sidecar shares, in one typed object reached through a dependency.

Why an object and not closures: the routers are plain modules (``routers/``), and what they
share — settings, the warehouse engine, the Dagster client and its gate, the launcher, the
caches — is built once by ``create_app`` and stored on ``app.state``; an endpoint asks for it
with the ``State`` annotation. The object's methods are the few things every area does the
same way: read the warehouse (503 when it does not answer), answer from the cache, name
today's PBX date, check that an enterprise is active.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..pbx.fleet import Fleet
from ..settings import Settings
from . import queries
from .cache import MarkedCache
from .dagster_client import DagsterClient, DagsterUnavailable
from .gate import DagsterGate
from .running import RunningSyncs
from .syncs import SyncLauncher

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The answer of every warehouse read while the database does not answer.
DATABASE_UNAVAILABLE = "central database unavailable"


@dataclass
class ApiState:
    """The sidecar's shared parts; ``close`` releases them when the app stops."""

    settings: Settings
    engine: Engine
    client: DagsterClient
    fleet: Fleet  # read once at start, like the settings (time zones, per-enterprise overrides)
    gate: DagsterGate = field(default_factory=DagsterGate)
    cache: MarkedCache = field(default_factory=MarkedCache)
    launcher: SyncLauncher = field(init=False)
    running: RunningSyncs = field(init=False)

    def __post_init__(self) -> None:
        self.launcher = SyncLauncher(self.client, self.gate)
        self.running = RunningSyncs(self.client, self.gate, lambda: self.launcher.launches,
                                    self.settings.dagster_url)

    @property
    def zone(self) -> ZoneInfo:
        """The fleet's shared PBX time zone (``Fleet.timezone`` answers per enterprise)."""
        return self.fleet.default_timezone

    def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` on a fresh connection; a database that does not answer is a 503."""
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            log.warning("database unavailable: %s", type(exc).__name__)
            raise HTTPException(503, DATABASE_UNAVAILABLE) from exc

    def cached(self, name: str, fn: Callable[[Connection], T]) -> T:
        """``fn``'s answer, recomputed only after an import committed (see cache.py)."""
        def run(conn: Connection) -> T:
            return self.cache.get(name, queries.change_marker(conn), lambda: fn(conn))  # type: ignore[no-any-return]
        return self.read(run)

    def active_numbers(self) -> list[str]:
        return [e.number for e in self.read(queries.active_enterprises)]

    def require_active(self, number: str) -> None:
        if number not in self.active_numbers():
            raise HTTPException(404, f"enterprise {number} is unknown or not active")

    def today(self) -> date:
        """Today on the PBXes (SPEC §4.6), not on this server's clock."""
        return datetime.now(self.zone).date()

    async def dagster(self, work: Awaitable[T]) -> T:
        """A Dagster call's result; an unreachable or wrong webserver is a 503."""
        try:
            return await work
        except DagsterUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc

    def close(self) -> None:
        self.gate.close()
        self.client.close()
        self.engine.dispose()


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


#: An endpoint parameter annotated ``State`` receives the app's ApiState.
State = Annotated[ApiState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="ASTERISK_API_TOKEN, when configured")


async def require_token(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries the configured bearer token (no token set: no check)."""
    expected = state.settings.api_token
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
