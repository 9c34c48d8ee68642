"""Dagster's processes failing under the sidecar and under runs (issue 12, part 3).

``dagster-webserver`` and ``dagster-daemon`` run as two processes (what ``dagster dev`` runs) so a
fault can take one away: the webserver stopped under the sidecar, and the daemon killed with
SIGKILL — with its code server and run workers, as an OOM kill or ``systemctl kill -s KILL`` of its
unit does — while a live run and a backfill run are in flight. The warehouse is the embedded
SQLite file; PBX files come from the simulator over the local transport.
"""
from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from tests.support.dagster_dev import wait_until
from tests.support.faults.report import FaultResult
from tests.support.faults.stack import (
    Dagster,
    base_env,
    clean_import,
    cli,
    compare,
    pbx_today,
    prepare_warehouse,
    sidecar,
)

GETS = ("/", "/health", "/enterprises", "/sync/live/status", "/sync/live/today", "/sync/status",
        "/metrics")


def _sqlite(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'warehouse.db'}"


# --- the webserver down -----------------------------------------------------------------------

def dagster_webserver_down(workdir: Path) -> FaultResult:
    """Kill the webserver under the sidecar: every POST answers 503 naming the webserver, every
    GET answers from the warehouse; once it is back, a POST starts a run that lands."""
    fault = "Dagster webserver down"
    today = pbx_today()
    logs = workdir / "logs"
    for index, number in enumerate(("0100", "0200")):
        write_day_file(day_file_path(logs, number, today), token=token_for(number), day=today, calls=60,
                       seed=20 + index, start_id=(index + 1) * 10**8, dirty_share=0.01)
    past = today - timedelta(days=3)
    write_day_file(day_file_path(logs, "0100", past), token=token_for("0100"), day=past, calls=60,
                   seed=30, start_id=5 * 10**8, dirty_share=0.01)
    clean_url = clean_import(workdir, logs, ["0100", "0200"], [["sync", "live"]])
    url = _sqlite(workdir)
    env = base_env(workdir, logs, url, ASTERISK_LIVE_SCHEDULE="off")
    prepare_warehouse(env, ["0100", "0200"])
    cli(env, "sync", "live", "--enterprise", "0100")  # /health needs a recent live sync
    problems: list[str] = []
    dagster = Dagster(workdir, env)
    try:
        dagster.start_webserver()
        dagster.start_daemon()
        with sidecar(env, dagster.url, workdir / "sidecar.log") as api:
            dagster.webserver.kill(signal.SIGKILL)
            posts = {
                "/sync/live/0100": httpx.post(f"{api}/sync/live/0100", timeout=60),
                "/sync/live/all": httpx.post(f"{api}/sync/live/all", timeout=60),
                "/sync/0100": httpx.post(f"{api}/sync/0100", json={"date_from": past.isoformat(),
                                                                   "date_to": past.isoformat()}, timeout=60),
                "/sync/all": httpx.post(f"{api}/sync/all", timeout=60),
            }
            for path, response in posts.items():
                detail = response.json().get("detail", "") if response.headers.get(
                    "content-type", "").startswith("application/json") else response.text
                if response.status_code != 503:
                    problems.append(f"POST {path} answered {response.status_code} with the webserver down")
                elif "Dagster webserver" not in str(detail) or "unreachable" not in str(detail):
                    problems.append(f"POST {path}: 503 without a clear message: {detail}")
            gets = {path: httpx.get(api + path, timeout=60) for path in GETS}
            for path, response in gets.items():
                if response.status_code != 200:
                    problems.append(f"GET {path} answered {response.status_code} with the webserver down")
            status = gets["/sync/status"].json()
            if status.get("running") is not None or "unreachable" not in str(status.get("dagster")):
                problems.append(f"/sync/status does not say Dagster is unreachable: {status.get('dagster')}")
            problems.extend(_agrees_with_warehouse(gets, url))
            began = time.monotonic()
            dagster.start_webserver()
            done = httpx.post(f"{api}/sync/live/all", params={"wait": "true", "timeout": "240"}, timeout=300)
            recovery = time.monotonic() - began
            if done.status_code != 200 or done.json().get("status") != "SUCCESS":
                problems.append(f"POST /sync/live/all after the webserver came back: {done.status_code} "
                                f"{done.text[:300]}")
    finally:
        dagster.stop()
    result = compare(url, clean_url)
    behaviour = f"{len(posts)} POSTs 503 (webserver unreachable), {len(GETS)} GETs 200 from the warehouse"
    return FaultResult(fault, behaviour, result.lost, result.duplicated, round(recovery, 1),
                       ok=not problems and result.lost == 0 and result.duplicated == 0,
                       details="; ".join(problems) or result.summary())


def _agrees_with_warehouse(gets: dict[str, httpx.Response], url: str) -> list[str]:
    """The GET answers given without Dagster are the warehouse's numbers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            calls = conn.execute(text("SELECT count(*) FROM calls")).scalar_one()
            numbers = [n for (n,) in conn.execute(text("SELECT number FROM enterprises ORDER BY number"))]
    finally:
        engine.dispose()
    out = []
    sources = gets["/sync/live/status"].json()["data_sources"]
    counted = sum(int(s["total_calls"]) for s in sources)
    if counted != calls:
        out.append(f"/sync/live/status counts {counted} calls, the warehouse holds {calls}")
    listed = sorted(e["enterprise_id"] for e in gets["/enterprises"].json()["enterprises"])
    if listed != numbers:
        out.append(f"/enterprises lists {listed}, the warehouse {numbers}")
    return out


# --- the daemon killed --------------------------------------------------------------------------

#: The test's instance: dagster.yaml with run monitoring polling every 5 s (not 60), a 120 s
#: maximum run time (not 3600) and a 20 s cancel timeout (not Dagster's 180), so that the dead
#: runs are failed within a test's patience.
FAST_MONITORING = {"poll_interval_seconds: 60": "poll_interval_seconds: 5",
                   "max_runtime_seconds: 3600": "max_runtime_seconds: 120\n  cancel_timeout_seconds: 20"}


def dagster_daemon_killed(workdir: Path) -> FaultResult:
    """SIGKILL the daemon's process group while a backfill run imports its second day (the live
    schedule ticking every minute meanwhile); start the daemon again: run monitoring fails the dead
    run(s), the next live tick runs and lands, and the same backfill launched again gives the
    warehouse a clean import gives."""
    fault = "Dagster daemon SIGKILLed during a backfill run"
    today = pbx_today()
    first, last = today - timedelta(days=6), today - timedelta(days=4)
    logs = workdir / "logs"
    for index, number in enumerate(("0100", "0327")):
        write_day_file(day_file_path(logs, number, today), token=token_for(number), day=today, calls=40,
                       seed=41 + index, start_id=(index + 1) * 10**8, dirty_share=0.01)
    day = first
    while day <= last:
        write_day_file(day_file_path(logs, "0327", day), token=token_for("0327"), day=day, calls=800,
                       seed=day.toordinal(), start_id=3 * 10**8 + day.toordinal() * 10**4, dirty_share=0.01)
        day += timedelta(days=1)
    numbers = ["0100", "0327"]
    clean_url = clean_import(workdir, logs, numbers, [
        ["sync", "history", "--enterprise", "0327", "--date-from", first.isoformat(),
         "--date-to", last.isoformat()],
        ["sync", "live"],
    ])
    url = _sqlite(workdir)
    env = base_env(workdir, logs, url, ASTERISK_LIVE_SCHEDULE="on", ASTERISK_LIVE_INTERVAL_MINUTES="1")
    prepare_warehouse(env, numbers)
    problems: list[str] = []
    recovery: float | None = None
    dagster = Dagster(workdir, env, instance=FAST_MONITORING)
    try:
        dagster.start_webserver()
        dagster.start_daemon()
        with sidecar(env, dagster.url, workdir / "sidecar.log") as api:
            backfill = httpx.post(f"{api}/sync/0327", json={"date_from": first.isoformat(),
                                                            "date_to": last.isoformat()}, timeout=60)
            assert backfill.status_code == 202, backfill.text
            backfill_id = backfill.json()["backfill_id"]

            def first_day_landed() -> Any:
                runs = [r for r in dagster.runs(limit=20) if r.tags.get("dagster/backfill") == backfill_id]
                landed = _count(url, "SELECT count(*) FROM sync_runs WHERE flow = 'history'"
                                     " AND status = 'success'")
                return runs and runs[0].status == "STARTED" and landed >= 1 and runs[0]

            run = wait_until(first_day_landed, 300, "the backfill run's first day", every=0.2)
            killed_at = time.time()
            dagster.daemon.kill(signal.SIGKILL)
            dead = [r for r in dagster.runs(limit=20) if r.status == "STARTED"]
            landed = _count(url, "SELECT count(*) FROM sync_runs WHERE flow = 'history' AND status = 'success'")
            if run.run_id not in {r.run_id for r in dead} or landed >= 3:
                problems.append(f"the backfill run was not in flight at the kill ({landed} of 3 days landed)")
            dagster.start_daemon()

            def all_finished() -> Any:
                states = [dagster.client.run(r.run_id) for r in dead]
                return all(s and s.finished for s in states) and states

            states = wait_until(all_finished, 600, "run monitoring to fail the dead runs", every=2)
            for state in states:
                if state.status != "FAILURE":
                    problems.append(f"dead run {state.run_id} ({state.tags.get('asterisk/flow')}) ended "
                                    f"{state.status}, not FAILURE")
            why = dagster.run_failure_text(run.run_id)
            if "maximum runtime" not in why and "forcibly marked as failed" not in why:
                problems.append(f"the dead backfill run carries no explanation: {why[:300]}")

            def next_tick() -> Any:
                for r in dagster.runs("live_sync_job"):
                    if ("dagster/schedule_name" in r.tags and (r.created_time or 0) > killed_at
                            and r.finished):
                        return r
                return None

            tick = wait_until(next_tick, 300, "the next scheduled live run", every=2)
            if tick.status != "SUCCESS":
                problems.append(f"the next live tick's run ended {tick.status}")
            # Re-execute once the backfill daemon has closed the first one (until then a new
            # request is a 409): the same backfill again through the sidecar (cursors make the
            # days that landed no-ops).
            first_runs = dagster.wait_backfill(backfill_id, timeout=300)
            if not any(r.status == "FAILURE" for r in first_runs):
                problems.append(f"the killed backfill ended {[r.status for r in first_runs]}")
            again = httpx.post(f"{api}/sync/0327", json={"date_from": first.isoformat(),
                                                         "date_to": last.isoformat()}, timeout=60)
            if again.status_code != 202:
                problems.append(f"re-launching the backfill: {again.status_code} {again.text[:200]}")
            else:
                rerun = dagster.wait_backfill(again.json()["backfill_id"], timeout=600)
                if not rerun or any(r.status != "SUCCESS" for r in rerun):
                    problems.append(f"re-executed backfill runs: {[r.status for r in rerun]}")
            recovery = time.time() - killed_at
            health = httpx.get(f"{api}/health", timeout=30)
            if health.status_code != 200:
                problems.append(f"/health after recovery: {health.status_code} {health.text[:200]}")
    finally:
        dagster.stop()
    result = compare(url, clean_url)
    behaviour = (f"monitoring failed {len(dead)} dead run(s) (max runtime); next live tick ran; "
                 "same backfill re-run")
    return FaultResult(fault, behaviour, result.lost, result.duplicated,
                       None if recovery is None else round(recovery, 1),
                       ok=not problems and result.lost == 0 and result.duplicated == 0,
                       details="; ".join(problems) or result.summary())


def _count(url: str, sql: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


SCENARIOS = (dagster_webserver_down, dagster_daemon_killed)
