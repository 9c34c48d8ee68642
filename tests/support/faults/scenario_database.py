"""PostgreSQL restarted under a live cycle and under a backfill run (issue 12, part 3).

A private cluster (tests/support/private_pg.py) holds the warehouse; the shared server at :5432 is never
touched. The Dagster webserver and daemon (their own SQLite instance under DAGSTER_HOME), the
sidecar and the CLI run as real processes; PBX files come from the simulator (local transport).
The fault is injected while an import transaction is open on the server (seen in
``pg_stat_activity``), never by guessing a sleep.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from tests.support.dagster_dev import wait_until
from tests.support.faults.report import FaultResult
from tests.support.faults.stack import (
    Dagster,
    base_env,
    clean_import,
    compare,
    pbx_today,
    prepare_warehouse,
    sidecar,
)
from tests.support.private_pg import PrivatePostgres, private_postgres

#: GET endpoints that read the warehouse (``/docs`` and ``/openapi.json`` do not).
READ_ENDPOINTS = ("/", "/enterprises", "/sync/live/status", "/sync/live/today", "/sync/status",
                  "/metrics")
BIG, SMALL = "0100", "0200"
HISTORY = "0327"


def _import_in_progress(pg: PrivatePostgres, database: str, *, older_than_ms: int = 300) -> bool:
    """An import's transaction (it has written: an xid; not the planner-statistics ANALYZE that
    follows an import) open on ``database`` for a while."""
    count = pg.psql("postgres",
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    f"'{database}' AND backend_type = 'client backend' AND application_name <> 'psql'"
                    f" AND xact_start < now() - interval '{older_than_ms} milliseconds'"
                    " AND state <> 'idle' AND backend_xid IS NOT NULL"
                    " AND query NOT IN ('ANALYZE calls', 'ANALYZE call_participants', 'ANALYZE call_events')")
    return int(count) > 0


def _probe(api: str) -> dict[str, tuple[int, Any]]:
    """Status and body of /health and every read endpoint."""
    out: dict[str, tuple[int, Any]] = {}
    for path in ("/health", *READ_ENDPOINTS):
        response = httpx.get(api + path, timeout=30)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        out[path] = (response.status_code, body)
    return out


def _db(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def _all_or_nothing(url: str, clean_url: str, number: str) -> str | None:
    """Each file's import is one transaction: an enterprise holds all of its rows (and its
    cursor) or none. Returns what is wrong, if anything."""
    events = _db(url, "SELECT count(*) FROM call_events WHERE enterprise_id = :n", n=number)[0][0]
    calls = _db(url, "SELECT count(*) FROM calls WHERE enterprise_id = :n", n=number)[0][0]
    cursors = _db(url, "SELECT count(*) FROM sync_cursors WHERE enterprise_id = :n", n=number)[0][0]
    full_events = _db(clean_url, "SELECT count(*) FROM call_events WHERE enterprise_id = :n", n=number)[0][0]
    full_calls = _db(clean_url, "SELECT count(*) FROM calls WHERE enterprise_id = :n", n=number)[0][0]
    if (events, calls, cursors) == (0, 0, 0) or (events, calls) == (full_events, full_calls) and cursors:
        return None
    return (f"partial data for {number}: {events}/{full_events} events, {calls}/{full_calls} calls, "
            f"{cursors} cursors")


def _stack_env(work: Path, logs: Path, url: str, **extra: str) -> dict[str, str]:
    return base_env(work, logs, url, **extra)


# --- live -------------------------------------------------------------------------------------

def postgres_restart_during_live_cycle(workdir: Path) -> FaultResult:
    """Stop PostgreSQL while a live cycle's import transaction is open; probe the sidecar while it
    is down; start it again; the failed cycle records kind ``database``; the next schedule tick
    (every minute) syncs everything."""
    fault = "PostgreSQL restarted during a live cycle"
    today = pbx_today()
    logs = workdir / "logs"
    # One enterprise with a file big enough for its import to take seconds, one small.
    write_day_file(day_file_path(logs, BIG, today), token=token_for(BIG), day=today, calls=1500,
                   seed=11, start_id=10**8, dirty_share=0.01)
    write_day_file(day_file_path(logs, SMALL, today), token=token_for(SMALL), day=today, calls=40,
                   seed=12, start_id=2 * 10**8, dirty_share=0.01)
    clean_url = clean_import(workdir, logs, [BIG, SMALL], [["sync", "live"]])
    with private_postgres() as pg:
        url = pg.create_database("warehouse")
        env = _stack_env(workdir, logs, url, ASTERISK_LIVE_INTERVAL_MINUTES="1",
                         ASTERISK_LIVE_SCHEDULE="on")
        prepare_warehouse(env, [BIG, SMALL])
        dagster = Dagster(workdir, env)
        try:
            dagster.start_webserver()
            dagster.start_daemon()
            with sidecar(env, dagster.url, workdir / "sidecar.log") as api:
                return _live_fault(fault, pg, dagster, api, url, clean_url)
        finally:
            dagster.stop()


def _live_fault(fault: str, pg: PrivatePostgres, dagster: Dagster, api: str, url: str,
                clean_url: str) -> FaultResult:
    problems: list[str] = []
    response = httpx.post(f"{api}/sync/live/all", timeout=60)
    if response.status_code == 409:  # the schedule's first tick came first: that is a live cycle too
        run_id = response.json()["id"]
    else:
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
    wait_until(lambda: _import_in_progress(pg, "warehouse"), 120, "an open import transaction",
               every=0.1)
    fault_at = datetime.now(UTC)
    began = time.monotonic()
    pg.stop("fast")
    down = _probe(api)
    pg.start()
    pg.wait_ready()
    for path, (status, _body) in down.items():
        if status != 503:
            problems.append(f"GET {path} answered {status} while the database was down")
    health = down["/health"][1]
    if not (isinstance(health, dict) and health.get("database") == "unavailable"
            and "database" in (health.get("reason") or "")):
        problems.append(f"/health gave no reason: {health}")
    for path in READ_ENDPOINTS:
        detail = down[path][1].get("detail", "") if isinstance(down[path][1], dict) else ""
        if "database" not in detail:
            problems.append(f"GET {path}: 503 without a clear message: {down[path][1]}")

    run = dagster.wait_run(run_id)
    partial = _all_or_nothing(url, clean_url, BIG)
    if partial:
        problems.append(partial + " after the failed cycle")
    failures = _db(url, "SELECT enterprise_id, error_kind, error FROM sync_runs WHERE status = 'failed'"
                        " AND dagster_run_id = :r", r=run_id)
    if run.status != "FAILURE":
        problems.append(f"the interrupted live run ended {run.status}")
    if not any(f.enterprise_id == BIG and f.error_kind == "database" for f in failures):
        problems.append(f"no sync_runs failure of kind 'database' for {BIG}: {failures}")
    text_ = dagster.run_failure_text(run_id)
    if "database" not in text_:
        problems.append(f"the failed run does not say why: {text_[:300]}")

    # Recovery: the next tick of the schedule, by itself.
    def recovered() -> Any:
        for r in dagster.runs("live_sync_job"):
            created = r.created_time or 0
            if ("dagster/schedule_name" in r.tags and created > fault_at.timestamp()
                    and r.status == "SUCCESS"):
                return r
        return None

    tick = wait_until(recovered, 200, "a successful scheduled live run after the fault", every=1)
    recovery = (tick.end_time or time.time()) - fault_at.timestamp()
    _ = began
    after = httpx.get(f"{api}/health", timeout=30)
    if after.status_code != 200:
        problems.append(f"/health after recovery: {after.status_code} {after.text}")
    result = compare(url, clean_url)
    kinds = ", ".join(sorted({f"{f.enterprise_id}:{f.error_kind}" for f in failures}))
    behaviour = (f"cycle failed ({kinds}); while down /health and {len(READ_ENDPOINTS)} GETs 503; "
                 f"next tick synced all")
    return FaultResult(fault, behaviour, result.lost, result.duplicated, round(recovery, 1),
                       ok=not problems and result.lost == 0 and result.duplicated == 0,
                       details="; ".join(problems) or result.summary())


# --- backfill ---------------------------------------------------------------------------------

def postgres_restart_during_backfill(workdir: Path) -> FaultResult:
    """Restart PostgreSQL (pg_ctl restart -m fast) while a backfill run imports a day; the day
    fails with kind ``database``, the other days land, nothing partial; running the same backfill
    again completes the warehouse."""
    fault = "PostgreSQL restarted during a backfill run"
    today = pbx_today()
    first, last = today - timedelta(days=5), today - timedelta(days=2)
    logs = workdir / "logs"
    day = first
    while day <= last:
        write_day_file(day_file_path(logs, HISTORY, day), token=token_for(HISTORY), day=day,
                       calls=600, seed=day.toordinal(), start_id=3 * 10**8 + day.toordinal() * 10**4,
                       dirty_share=0.01)
        day += timedelta(days=1)
    history = ["sync", "history", "--enterprise", HISTORY, "--date-from", first.isoformat(),
               "--date-to", last.isoformat()]
    clean_url = clean_import(workdir, logs, [HISTORY], [history])
    with private_postgres() as pg:
        url = pg.create_database("warehouse")
        env = _stack_env(workdir, logs, url, ASTERISK_LIVE_SCHEDULE="off")
        prepare_warehouse(env, [HISTORY])
        dagster = Dagster(workdir, env)
        try:
            dagster.start_webserver()
            dagster.start_daemon()
            with sidecar(env, dagster.url, workdir / "sidecar.log") as api:
                return _backfill_fault(fault, pg, dagster, api, url, clean_url,
                                       {"date_from": first.isoformat(), "date_to": last.isoformat()})
        finally:
            dagster.stop()


def _backfill_fault(fault: str, pg: PrivatePostgres, dagster: Dagster, api: str, url: str,
                    clean_url: str, body: dict[str, str]) -> FaultResult:
    problems: list[str] = []
    response = httpx.post(f"{api}/sync/{HISTORY}", json=body, timeout=60)
    assert response.status_code == 202, response.text
    backfill_id = response.json()["backfill_id"]
    # Let one day land first, then hit the next day's open transaction.
    wait_until(lambda: _db(url, "SELECT count(*) FROM sync_runs WHERE status = 'success'")[0][0] >= 1,
               180, "the first day of the backfill", every=0.2)
    wait_until(lambda: _import_in_progress(pg, "warehouse"), 60, "an open import transaction", every=0.05)
    began = time.monotonic()
    pg.restart("fast")
    runs = dagster.wait_backfill(backfill_id)
    statuses = sorted(r.status for r in runs)
    if "FAILURE" not in statuses:
        problems.append(f"backfill runs after the restart: {statuses}")
    failed = _db(url, "SELECT file_date, error_kind, error, dagster_run_id FROM sync_runs"
                      " WHERE status = 'failed'")
    if not failed or any(f.error_kind != "database" for f in failed):
        problems.append(f"failed syncs are not all of kind 'database': {failed}")
    elif not all("database" in (f.error or "") for f in failed):
        problems.append(f"unclear failure messages: {[f.error for f in failed]}")
    # Nothing partial: a day has its events and its cursor, or neither.
    landed = {str(d) for (d,) in _db(url, "SELECT DISTINCT file_date FROM sync_runs WHERE status = 'success'")}
    for (day, events, cursor) in _db(
        url, "SELECT d.file_date, (SELECT count(*) FROM call_events e WHERE e.file_date = d.file_date),"
             " (SELECT count(*) FROM sync_cursors c WHERE c.file_date = d.file_date)"
             " FROM (SELECT DISTINCT file_date FROM sync_runs) d"):
        if str(day) not in landed and (events or cursor):
            problems.append(f"partial day {day}: {events} events, {cursor} cursors after a failure")
    text_ = "\n".join(dagster.run_failure_text(r.run_id) for r in runs if r.status == "FAILURE")
    if "database" not in text_:
        problems.append(f"the failed backfill run does not say why: {text_[:300]}")
    # Recovery: the same backfill again (cursors skip the days that landed).
    again = httpx.post(f"{api}/sync/{HISTORY}", json=body, timeout=60)
    assert again.status_code == 202, again.text
    rerun = dagster.wait_backfill(again.json()["backfill_id"])
    recovery = time.monotonic() - began
    if any(r.status != "SUCCESS" for r in rerun):
        problems.append(f"re-run of the backfill: {[r.status for r in rerun]}")
    result = compare(url, clean_url)
    behaviour = (f"{len(failed)} day sync(s) failed (database), {len(landed)} landed, none partial; "
                 "re-run completed")
    return FaultResult(fault, behaviour, result.lost, result.duplicated, round(recovery, 1),
                       ok=not problems and result.lost == 0 and result.duplicated == 0,
                       details="; ".join(problems) or result.summary())


SCENARIOS = (postgres_restart_during_live_cycle, postgres_restart_during_backfill)
