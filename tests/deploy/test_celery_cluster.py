"""Dagster on Celery workers in two network namespaces (tests/deploy/conftest.py's cluster).

Tests run in file order on one cluster: the spread backfill, a worker SIGKILLed mid-run and the
run re-executed, a worker started on changed code, and the sidecar and the live schedule.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from asterisk_pipeline.api.dagster_client import BackfillInfo, DagsterClient, RunInfo
from asterisk_pipeline.names import (
    FLOW_HISTORY,
    HISTORY_ASSETS,
    LIVE_JOB,
    LIVE_SCHEDULE,
    TAG_CELERY_WORKER,
    TAG_CODE_VERSION,
    TAG_FLOW,
)
from tests.support import cluster as c
from tests.support.dagster_dev import free_port
from tests.support.deploy import (
    CLI,
    FIRST_DAY,
    KILLED,
    KILLED_DAYS,
    SPREAD,
    SPREAD_DAYS,
    Cluster,
    cli_warehouse,
)
from tests.support.snapshot import snapshot

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
SPREAD_NUMBERS = {n: SPREAD_DAYS for n in SPREAD}


def _partitions(number: str, days: int) -> list[str]:
    return [f"{FIRST_DAY + timedelta(days=d)}|{number}" for d in range(days)]


def _backfill(client: DagsterClient, names: list[str], title: str) -> str:
    return client.launch_backfill(asset_keys=HISTORY_ASSETS, partition_names=names, run_config={},
                                  tags={TAG_FLOW: FLOW_HISTORY}, title=title)


def _finished_backfill(client: DagsterClient, backfill_id: str) -> BackfillInfo:
    return c.wait_until(lambda: (b := client.backfill(backfill_id)) and b.finished and b, 240,
                        f"backfill {backfill_id}", every=1.0)


def _finished_run(client: DagsterClient, run_id: str, timeout: float = 180) -> RunInfo:
    return c.wait_until(lambda: (r := client.run(run_id)) and r.finished and r, timeout,
                        f"run {run_id}")


def _worker(run: RunInfo) -> str:
    """The worker's short name (``a`` of ``a@host``) recorded on the run by the worker itself."""
    return run.tags.get(TAG_CELERY_WORKER, "?").split("@")[0]


def _snapshot(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    try:
        return snapshot(engine)
    finally:
        engine.dispose()


def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def _committed(url: str, number: str) -> list[str]:
    """Days of ``number`` whose history sync committed, in date order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT DISTINCT file_date::text FROM sync_runs WHERE enterprise_id = :n"
                " AND flow = 'history' AND status = 'success' ORDER BY 1"), {"n": number})]
    finally:
        engine.dispose()


def test_a_backfill_runs_on_both_workers_and_equals_the_cli(cluster: Cluster) -> None:
    client = cluster.client()
    names = [p for n in SPREAD for p in _partitions(n, SPREAD_DAYS)]
    done = _finished_backfill(client, _backfill(client, names, "spread over two workers"))
    client.close()
    assert done.status == "COMPLETED_SUCCESS", done
    assert {r.status for r in done.runs} == {"SUCCESS"} and len(done.runs) >= len(SPREAD)
    ran_on = {r.run_id: _worker(r) for r in done.runs}
    assert set(ran_on.values()) == {"a", "b"}, ran_on  # each worker ran at least one run
    assert all(r.tags.get("dagster-celery/task_id") for r in done.runs)
    with cli_warehouse(cluster.host_env, SPREAD_NUMBERS, cluster.logs) as cli_url:
        assert _snapshot(cluster.warehouse_url) == _snapshot(cli_url)


def test_a_worker_killed_mid_run_fails_the_run_and_reexecution_completes_it(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    backfill_id = _backfill(client, _partitions(KILLED, KILLED_DAYS), "a run to kill")
    run = c.wait_until(lambda: (b := client.backfill(backfill_id)) and b.runs and
                       (r := b.runs[0]).status == "STARTED" and _worker(r) in cluster.workers and r,
                       120, "the run to start on a worker")
    # mid-run: at least one day committed by this run, the last not yet
    c.wait_until(lambda: _scalar(cluster.warehouse_url, "SELECT count(*) FROM sync_runs WHERE"
                                 " dagster_run_id = :r AND status = 'success'", r=run.run_id) >= 1,
                 120, "the first day of the run to commit", every=0.2)
    victim = _worker(run)
    cluster.workers[victim].kill()  # SIGKILL to the worker and its run process
    cluster.stopped.append(cluster.workers.pop(victim))
    landed = _scalar(cluster.warehouse_url, "SELECT count(*) FROM sync_runs WHERE dagster_run_id"
                     " = :r", r=run.run_id)
    assert 1 <= landed < KILLED_DAYS, "the kill must come mid-run"

    failed = _finished_run(client, run.run_id, timeout=90)  # run monitoring: poll 3 s, 3 pings
    assert failed.status == "FAILURE"
    events = client.query(
        "query($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection {"
        " events { __typename ... on MessageEvent { message } } } } }", {"id": run.run_id}
    )["logsForRun"]["events"]
    assert any("answers no ping" in (e.get("message") or "") for e in events)

    numbers = {**SPREAD_NUMBERS, KILLED: KILLED_DAYS}
    with cli_warehouse(cluster.host_env, numbers, cluster.logs) as cli_url:
        # no partial day: the days that committed are the first ones (the run goes in date
        # order, as the CLI does), and the warehouse holds exactly the calls the CLI's import of
        # those days created, events likewise — the day in progress left nothing behind.
        done = _committed(cluster.warehouse_url, KILLED)
        assert 1 <= len(done) < KILLED_DAYS
        assert done == [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(len(done))]
        for table, column in (("calls", "new_calls"), ("call_events", "new_events")):
            held = _scalar(cluster.warehouse_url,
                           f"SELECT count(*) FROM {table} WHERE enterprise_id = :n", n=KILLED)
            assert held == _scalar(cli_url, f"SELECT coalesce(sum({column}), 0) FROM sync_runs WHERE"
                                   " enterprise_id = :n AND flow = 'history' AND status = 'success'"
                                   " AND file_date::text = ANY(:d)", n=KILLED, d=done), table

        result = client.query(
            "mutation($p: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $p) {"
            " __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }",
            {"p": {"parentRunId": run.run_id, "strategy": "ALL_STEPS"}},
        )["launchRunReexecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        again = _finished_run(client, result["run"]["runId"])
        client.close()
        assert again.status == "SUCCESS" and _worker(again) in cluster.workers
        assert _snapshot(cluster.warehouse_url) == _snapshot(cli_url)


def test_a_worker_started_after_a_code_change_runs_the_new_code(cluster: Cluster) -> None:
    """A new release (a copy of the package with a change) on the host of the killed worker; the
    old worker is stopped, so the next run can only go to the new one."""
    (victim,) = {"a", "b"} - set(cluster.workers)
    (old_name,) = cluster.workers
    release = cluster.work / "release-2"
    shutil.copytree(c.ROOT / "asterisk_pipeline", release / "asterisk_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(release / "asterisk_pipeline" / "__init__.py", "a") as init:
        init.write('\nRELEASE = "release-2"  # the change this test deploys\n')
    env = {**cluster.worker_env[victim], "PYTHONPATH": str(release)}
    new = c.start_worker("new", env, cluster.homes[victim] / "dagster", cluster.work,
                         netns=cluster.ns.name if victim == "b" else None)
    cluster.workers["new"] = new
    assert f"from {release}/asterisk_pipeline" in new.tail(20000)
    client = cluster.client()
    old_version = c.wait_until(lambda: _any_run_tag(client, TAG_CODE_VERSION), 10, "a code tag")
    cluster.workers.pop(old_name).stop()
    run_id = client.launch_run(LIVE_JOB, run_config={}, tags={TAG_FLOW: "live"})
    run = _finished_run(client, run_id)
    client.close()
    assert run.status == "SUCCESS" and _worker(run) == "new"
    assert run.tags[TAG_CODE_VERSION] != old_version


def _any_run_tag(client: DagsterClient, key: str) -> str | None:
    data = client.query("{ runsOrError(limit: 50) { ... on Runs { results { tags { key value } } } } }")
    for node in data["runsOrError"]["results"]:
        for tag in node["tags"]:
            if tag["key"] == key:
                return str(tag["value"])
    return None


def test_the_sidecar_and_the_live_schedule_run_on_a_worker(cluster: Cluster) -> None:
    port = free_port()
    serve = c.start("serve", [CLI, "serve", "--port", str(port), "--dagster-url",
                              cluster.dagster_url], cluster.host_env, cluster.work / "serve",
                    cluster.work / "serve.log")
    api = f"http://127.0.0.1:{port}"
    client = cluster.client()
    try:
        c.wait_until(lambda: _answers(f"{api}/"), 60, "the sidecar")
        response = httpx.post(f"{api}/sync/live/0327", params={"wait": "true", "timeout": 120},
                              timeout=150)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "SUCCESS"
        run = client.run(body["run_id"])
        assert run is not None and _worker(run) in cluster.workers
        assert _scalar(cluster.warehouse_url, "SELECT count(*) FROM calls WHERE enterprise_id ="
                       " '0327' AND data_source = 'live'") > 0

        repo = client.repository(LIVE_JOB)
        started = client.query(
            "mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { __typename"
            " ... on ScheduleStateResult { scheduleState { id } } ... on PythonError { message } } }",
            {"s": {**repo.selector(), "scheduleName": LIVE_SCHEDULE}})["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started
        try:
            ticked = c.wait_until(lambda: _schedule_run(client), 150, "a live schedule tick's run",
                                  every=2.0)
        finally:
            client.query("mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                         {"id": started["scheduleState"]["id"]})
        assert ticked.status == "SUCCESS" and _worker(ticked) in cluster.workers
    finally:
        client.close()
        serve.popen.send_signal(signal.SIGTERM)
        try:
            serve.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _schedule_run(client: DagsterClient) -> RunInfo | None:
    flt = {"tags": [{"key": "dagster/schedule_name", "value": LIVE_SCHEDULE}]}
    data = client.query(
        "query($f: RunsFilter) { runsOrError(filter: $f, limit: 5) { ... on Runs { results {"
        " runId status creationTime startTime endTime tags { key value } } } } }", {"f": flt})
    for node in data["runsOrError"]["results"]:
        run = RunInfo(node["runId"], node["status"], {t["key"]: t["value"] for t in node["tags"]})
        if run.finished:
            return run
    return None
