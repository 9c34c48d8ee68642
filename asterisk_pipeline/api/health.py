"""What ``GET /health`` answers: healthy or not, and why (plain functions, no HTTP).

SPEC §5: healthy only when the database answers and the newest successful live sync is younger
than ``ASTERISK_HEALTH_MAX_LIVE_AGE_MINUTES``; each active enterprise whose own last live sync
is older (or missing) is listed as stale, without making the sidecar unhealthy by itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from . import queries
from .models import Health
from .status import newest


def assess(last_live: Mapping[str, datetime | None], now: datetime, max_age_s: float) -> Health:
    """The health of a sidecar whose database answered, from each active enterprise's last
    successful live sync (None: never). No active enterprise at all is healthy: nothing is late."""
    latest = newest(last_live)
    age = (now - latest).total_seconds() if latest else None
    stale = sorted(n for n, t in last_live.items() if t is None or (now - t).total_seconds() > max_age_s)
    reason = None
    if last_live and latest is None:
        reason = "no successful live sync yet"
    elif age is not None and age > max_age_s:
        reason = f"last successful live sync is {age / 60:.1f} min old (limit {max_age_s / 60:.0f} min)"
    return Health(status="unhealthy" if reason else "healthy", database="ok", last_live_sync=latest,
                  last_live_sync_age_s=round(age, 1) if age is not None else None,
                  max_live_sync_age_s=max_age_s, active_enterprises=len(last_live),
                  stale_enterprises=stale, reason=reason)


def database_down(error: Exception, max_age_s: float) -> Health:
    """The health of a sidecar whose database did not answer (the error's type, never its text:
    a driver's message may name hosts and users)."""
    return Health(status="unhealthy", database="unavailable", last_live_sync=None,
                  last_live_sync_age_s=None, max_live_sync_age_s=max_age_s, active_enterprises=None,
                  stale_enterprises=[], reason=f"central database unavailable ({type(error).__name__})")


def check(conn: Connection, now: datetime, max_age_s: float) -> Health:
    """Ping the database, then assess its live syncs."""
    queries.ping(conn)
    return assess(queries.last_success_by_enterprise(conn, "live"), now, max_age_s)


def status_code(health: Health) -> int:
    return 200 if health.status == "healthy" else 503
