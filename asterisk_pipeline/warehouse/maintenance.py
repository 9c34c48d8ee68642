"""Planner statistics upkeep for the warehouse's big tables (PostgreSQL).

Why: every import joins a small key list against ``call_events``/``calls`` by enterprise and
UniqueId. Without statistics (autovacuum off, or not yet caught up after a bulk backfill) the
planner takes ``enterprise_id = …`` for a handful of rows and scans the whole enterprise for
each file — history imports then slow down as history grows (0.1 s → 0.4 s a file over one
year). This mirrors autovacuum's own analyze rule, so with autovacuum on it rarely fires.
"""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

#: Tables whose statistics the import's plans depend on.
TABLES: tuple[str, ...] = ("calls", "call_legs", "call_participants", "call_events", "event_sightings")
#: Re-analyze when rows changed since the last analyze exceed this share of the table (+ base).
SCALE_FACTOR = 0.2
BASE_THRESHOLD = 1_000
#: A live cycle imports hundreds of small files within seconds; the staleness check (a
#: pg_stat_user_tables query, ~30 ms of a 250 ms incremental import) runs at most this often
#: per database and process.
MIN_INTERVAL_S = 15.0
_checked_at: dict[str, float] = {}
_checked_lock = threading.Lock()


def stale_tables(engine: Engine) -> list[str]:
    """The tables of ``TABLES`` whose statistics lag behind their contents (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return []  # SQLite's planner does not need them for these index lookups
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema() AND relname = ANY(:tables)"
                " AND n_mod_since_analyze > :base + :scale * greatest(n_live_tup, 0)"
            ),
            {"tables": list(TABLES), "base": BASE_THRESHOLD, "scale": SCALE_FACTOR},
        ).scalars().all()
    return sorted(rows)


def _due(engine: Engine, min_interval_s: float) -> bool:
    key = engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    with _checked_lock:
        if now - _checked_at.get(key, -1e18) < min_interval_s:
            return False
        _checked_at[key] = now
    return True


def refresh_statistics(engine: Engine, *, min_interval_s: float = MIN_INTERVAL_S) -> list[str]:
    """ANALYZE the stale tables; returns their names. Never fails an import: a missing
    privilege or a lock timeout is logged and the next import tries again. Checked at most
    once per ``min_interval_s`` per database."""
    if engine.dialect.name != "postgresql" or not _due(engine, min_interval_s):
        return []
    try:
        tables = stale_tables(engine)
        for table in tables:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE {table}")  # names come from TABLES only
    except SQLAlchemyError as exc:
        log.warning("could not refresh planner statistics: %s", type(exc).__name__)
        return []
    if tables:
        log.info("refreshed planner statistics of %s", ", ".join(tables))
    return tables
