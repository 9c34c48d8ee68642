"""The sidecar against a live stack (real uvicorn, dagster dev, PostgreSQL, simulated fleet).

Tests run in file order on one stack: each leaves no sync running for the next.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from tests.support.api import (
    CALLS_PER_DAY,
    LEGACY_FIRST,
    LEGACY_LAST,
    SEED,
    TODAY_CALLS,
    Stack,
)
from tests.support.dagster_dev import wait_until

pytestmark = pytest.mark.slow  # make quick leaves it to make test

SECRET_MARK = "do-not-show"

# Every curl command of the old service's documentation (legacy-service.md), verbatim.
LEGACY = {
    "root": "curl http://localhost:8007/",
    "health": "curl http://localhost:8007/health",
    "live_one": "curl -X POST http://localhost:8007/sync/live/0327",
    "live_all": "curl -X POST http://localhost:8007/sync/live/all",
    "live_status": "curl http://localhost:8007/sync/live/status",
    "history_one": """curl -X POST http://localhost:8007/sync/0327 -H "Content-Type: application/json" -d '{
  "enterprise_id": "0327",
  "force_all": false,
  "date_from": "2025-06-22",
  "date_to": "2025-07-03"
}'""",
    "history_all": "curl -X POST http://localhost:8007/sync/all",
    "sync_status": "curl http://localhost:8007/sync/status",
    "enterprises": "curl http://localhost:8007/enterprises",
    "new_enterprise": "curl -X POST http://localhost:8007/sync/live/0999",
}
JQ = {
    "data_sources": "curl -s http://localhost:8007/sync/live/status | jq '.data_sources'",
    "enterprise_breakdown": "curl -s http://localhost:8007/sync/live/status | jq '.enterprise_breakdown'",
}


def curl(stack: Stack, command: str) -> Any:
    """Run a documented curl command against the stack (argv from shlex: no shell involved)."""
    argv = [a.replace("http://localhost:8007", stack.api) for a in shlex.split(command)]
    done = subprocess.run([*argv, "-s", "--max-time", "120"], capture_output=True, text=True, check=True)
    assert SECRET_MARK not in done.stdout
    return json.loads(done.stdout)


def curl_jq(stack: Stack, pipeline: str) -> Any:
    left, right = pipeline.split(" | ")
    argv = [a.replace("http://localhost:8007", stack.api) for a in shlex.split(left)]
    raw = subprocess.run(argv, capture_output=True, check=True).stdout
    out = subprocess.run(shlex.split(right), input=raw, capture_output=True, check=True).stdout
    return json.loads(out)


def db(stack: Stack, sql: str, **params: Any) -> list[Any]:
    engine = stack.engine()
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def wait_run(stack: Stack, run_id: str) -> str:
    client = stack.client()
    try:
        run = wait_until(lambda: (r := client.run(run_id)) and r.finished and r, 180, f"run {run_id}")
        return run.status
    finally:
        client.close()


def wait_backfill(stack: Stack, backfill_id: str) -> str:
    client = stack.client()
    try:
        done = wait_until(lambda: (b := client.backfill(backfill_id)) and b.finished and b, 300,
                          f"backfill {backfill_id}")
        return done.status
    finally:
        client.close()


def test_before_any_sync_root_enterprises_and_health(stack: Stack) -> None:
    root = curl(stack, LEGACY["root"])
    assert root["status"] == "running" and root["active_enterprises"] == sorted(SEED)
    listed = curl(stack, LEGACY["enterprises"])["enterprises"]
    assert [e["enterprise_id"] for e in listed] == sorted(SEED)
    vos = next(e for e in listed if e["enterprise_id"] == "0327")
    assert vos == {"enterprise_id": "0327", "name": "VOS", "host": "VOS.vochi.lan", "ip": "10.88.10.77",
                   "token": token_for("0327"), "secret": "********"}
    response = httpx.get(f"{stack.api}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy" and "no successful live sync" in response.json()["reason"]


def test_live_sync_over_http_is_a_dagster_run_and_lands_calls(stack: Stack) -> None:
    response = httpx.post(f"{stack.api}/sync/live/0327", params={"wait": "true", "timeout": 150}, timeout=180)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "live_events" and body["target_table"] == "AlternativeAPIlogs"
    assert body["enterprise_id"] == "0327" and body["status"] == "SUCCESS" and body["finished"]
    live_calls = db(stack, "SELECT count(*) FROM calls WHERE enterprise_id = '0327' AND data_source = 'live'")[0][0]
    # today's file, and yesterday's until the PBX's midnight has been read (the live window)
    assert body["statistics"]["new_calls"] == live_calls >= TODAY_CALLS
    assert body["statistics"]["failed_syncs"] == 0
    client = stack.client()
    run = client.run(body["run_id"])
    client.close()
    assert run is not None and run.tags["asterisk/enterprises"] == "0327"
    assert body["dagster_url"].endswith(f"/runs/{body['run_id']}")
    # only 0327 was synced
    assert db(stack, "SELECT count(*) FROM calls WHERE enterprise_id <> '0327'")[0][0] == 0
    health = httpx.get(f"{stack.api}/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert health.json()["stale_enterprises"] == sorted(set(SEED) - {"0327"})


def test_every_documented_curl_command(stack: Stack) -> None:
    assert curl(stack, LEGACY["health"])["status"] == "healthy"

    one = curl(stack, LEGACY["live_one"])
    assert {"message", "enterprise_id", "type", "target_table", "run_id"} <= one.keys()
    assert (one["enterprise_id"], one["type"], one["target_table"]) == ("0327", "live_events", "AlternativeAPIlogs")
    assert wait_run(stack, one["run_id"]) == "SUCCESS"

    everyone = curl(stack, LEGACY["live_all"])
    assert everyone["enterprises"] == sorted(SEED) and everyone["type"] == "live_events"
    assert wait_run(stack, everyone["run_id"]) == "SUCCESS"

    history = curl(stack, LEGACY["history_one"])
    assert history["backfill_id"] and history["enterprise_id"] == "0327"
    assert (history["date_from"], history["date_to"]) == (str(LEGACY_FIRST), str(LEGACY_LAST))
    assert wait_backfill(stack, history["backfill_id"]) in ("COMPLETED", "COMPLETED_SUCCESS")
    legacy_days = (LEGACY_LAST - LEGACY_FIRST).days + 1
    imported = db(stack, "SELECT count(*) FROM calls WHERE enterprise_id = '0327' AND data_source = 'downloaded'"
                         " AND start_time < :end", end=str(LEGACY_LAST + timedelta(days=2)))[0][0]
    assert imported == legacy_days * CALLS_PER_DAY

    history_all = curl(stack, LEGACY["history_all"])
    assert history_all["enterprises"] == sorted(SEED) and history_all["partitions"] == 7 * len(SEED)
    assert wait_backfill(stack, history_all["backfill_id"]) in ("COMPLETED", "COMPLETED_SUCCESS")

    status = curl(stack, LEGACY["live_status"])
    assert status["auto_sync_interval"] == 5
    truth = db(stack, "SELECT data_source, count(*) FROM calls GROUP BY data_source ORDER BY 1")
    assert [(d["data_source"], d["total_calls"]) for d in status["data_sources"]] == [tuple(r) for r in truth]
    assert curl_jq(stack, JQ["data_sources"]) == status["data_sources"]
    breakdown = curl_jq(stack, JQ["enterprise_breakdown"])
    truth = db(stack, "SELECT enterprise_id, data_source, count(*) FROM calls GROUP BY 1, 2 ORDER BY 1, 2")
    assert [(b["enterprise_id"], b["data_source"], b["count"]) for b in breakdown] == [tuple(r) for r in truth]
    assert {b["enterprise_id"] for b in breakdown if b["data_source"] == "live"} == set(SEED)

    sync_status = curl(stack, LEGACY["sync_status"])
    rows = {r["enterprise_id"]: r for r in sync_status["sync_status"]}
    assert set(rows) == set(SEED) and sync_status["running"] == [] and sync_status["dagster"] == "ok"
    truth = db(stack, "SELECT total_downloaded_events FROM download_sync WHERE enterprise_id = '0327'")
    assert rows["0327"]["total_downloaded"] == sum(r[0] for r in truth) > 0
    assert rows["0327"]["last_sync"] and rows["0327"]["status"] == "ok"

    today = httpx.get(f"{stack.api}/sync/live/today").json()
    assert today["date"] == str(stack.today) and today["live_calls"] == len(SEED) * TODAY_CALLS
    assert {r["enterprise_id"]: r["count"] for r in today["by_enterprise"]} == {n: TODAY_CALLS for n in SEED}


def test_a_new_enterprise_row_is_synced_without_restart(stack: Stack) -> None:
    """The documentation's recipe: INSERT the row, then POST /sync/live/0999."""
    db(stack, "INSERT INTO enterprises (number, name, host, secret, ip, is_enabled, active) "
              "VALUES ('0999', 'Новое предприятие', 'new.vochi.lan', 'token_here', '10.88.10.99', true, true)")
    write_day_file(day_file_path(stack.logs, "0999", stack.today), token=token_for("0999"), day=stack.today,
                   calls=3, seed=99, start_id=7 * 10**8, dirty_share=0.0, live_share_undelivered=1.0)
    started = curl(stack, LEGACY["new_enterprise"])
    assert started["enterprise_id"] == "0999" and wait_run(stack, started["run_id"]) == "SUCCESS"
    client = stack.client()
    keys = client.query('{ assetNodeOrError(assetKey: {path: ["live_calls"]}) { ... on AssetNode { partitionKeys } } }')
    client.close()
    assert "0999" in keys["assetNodeOrError"]["partitionKeys"]
    assert db(stack, "SELECT count(*) FROM calls WHERE enterprise_id = '0999'")[0][0] == 3
    listed = httpx.get(f"{stack.api}/enterprises").json()["enterprises"]
    assert next(e for e in listed if e["enterprise_id"] == "0999")["secret"] == "********"
    assert "token_here" not in httpx.get(f"{stack.api}/enterprises").text


def test_a_failed_sync_is_listed_by_wait_with_its_file_and_kind(stack: Stack) -> None:
    """An enterprise added without a day file: the run fails, and ?wait=true says why (the failure
    row carries the run id), with counts that agree with the run's status."""
    db(stack, "INSERT INTO enterprises (number, name, host, secret, ip, is_enabled, active) "
              "VALUES ('0998', 'Без файла', 'nofile.vochi.lan', 'token_here', '10.88.10.98', true, true)")
    try:
        response = httpx.post(f"{stack.api}/sync/live/0998", params={"wait": "true"}, timeout=200)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "FAILURE" and answer["finished"], answer
        stats = answer["statistics"]
        assert stats["failed_syncs"] >= 1 and stats["day_syncs"] >= 1, stats
        failure = stats["failures"][0]
        assert failure["enterprise_id"] == "0998" and failure["flow"] == "live"
        assert failure["file"] == f"Listen_AMI_{stack.today}.db" and failure["error_kind"] == "missing_file"
        assert failure["error"], failure
        rows = db(stack, "SELECT dagster_run_id, status FROM sync_runs WHERE enterprise_id = '0998'")
        assert rows and all(r[0] == answer["run_id"] and r[1] == "failed" for r in rows), rows
    finally:
        db(stack, "UPDATE enterprises SET active = false, is_enabled = false WHERE number = '0998'")


def test_a_live_run_names_the_enterprises_it_covers(stack: Stack) -> None:
    """A run "for all" records which enterprises it read from the registry (asterisk/covered), so
    a sync requested for one added later is not refused with 409 for a run that skips it."""
    started = httpx.post(f"{stack.api}/sync/live/all", timeout=30).json()
    assert wait_run(stack, started["run_id"]) == "SUCCESS"
    client = stack.client()
    try:
        tags = client.run(started["run_id"]).tags  # type: ignore[union-attr]
    finally:
        client.close()
    active = {r[0] for r in db(stack, "SELECT number FROM enterprises WHERE active")}
    assert set(tags["asterisk/covered"].split(",")) == active


def test_history_wait_returns_statistics_and_force_all_rereads(stack: Stack) -> None:
    day = str(stack.today - timedelta(days=3))  # imported already by POST /sync/all
    before = db(stack, "SELECT count(*) FROM calls WHERE enterprise_id = '0100'")[0][0]
    body = {"force_all": True, "date_from": day, "date_to": day}
    response = httpx.post(f"{stack.api}/sync/0100", params={"wait": "true"}, json=body, timeout=200)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] in ("COMPLETED", "COMPLETED_SUCCESS") and answer["finished"]
    stats = answer["statistics"]
    assert stats["day_syncs"] == 1 and stats["failed_syncs"] == 0 and stats["rows_read"] > 0
    # forced: every row read again, the same calls recomputed, nothing new
    assert stats["new_calls"] == 0 and stats["updated_calls"] > 0 and stats["new_events"] == 0
    assert db(stack, "SELECT count(*) FROM calls WHERE enterprise_id = '0100'")[0][0] == before


def test_fifty_concurrent_posts_start_one_sync(stack: Stack) -> None:
    with httpx.Client(timeout=60) as http, ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: http.post(f"{stack.api}/sync/live/0201"), range(50)))
    codes = sorted(a.status_code for a in answers)
    started = [a.json()["run_id"] for a in answers if a.status_code == 202]
    assert len(started) == 1 and codes.count(409) == 49, codes
    assert {a.json()["id"] for a in answers if a.status_code == 409} == set(started)
    wait_run(stack, started[0])
    client = stack.client()
    runs = client.query('{ runsOrError(filter: {tags: [{key: "asterisk/enterprises", value: "0201"}]}) {'
                        ' ... on Runs { results { runId } } } }')["runsOrError"]["results"]
    client.close()
    assert [r["runId"] for r in runs] == started


def test_a_requested_backfill_is_listed_as_running_at_once(stack: Stack) -> None:
    """A backfill has no run until the daemon's next tick (~30 s); /sync/status lists it from the
    moment it is requested, as the 409 for a second request already treats it."""
    day = str(stack.today - timedelta(days=2))
    assert httpx.get(f"{stack.api}/sync/status").json()["running"] == []  # primes the 2-s cache
    started = httpx.post(f"{stack.api}/sync/0367", json={"date_from": day, "date_to": day}, timeout=60)
    assert started.status_code == 202, started.text
    backfill_id = started.json()["backfill_id"]
    running = httpx.get(f"{stack.api}/sync/status").json()["running"]
    listed = [r for r in running if r["kind"] == "backfill" and r["id"] == backfill_id]
    assert listed and listed[0]["flow"] == "history" and listed[0]["enterprises"] == "0367", running
    assert listed[0]["dagster_url"] == started.json()["dagster_url"]
    again = httpx.post(f"{stack.api}/sync/0367", json={"date_from": day, "date_to": day}, timeout=60)
    assert again.status_code == 409 and again.json()["id"] == backfill_id
    assert wait_backfill(stack, backfill_id) in ("COMPLETED", "COMPLETED_SUCCESS")


def _webserver(stack: Stack) -> psutil.Process:
    """The process of ``dagster dev`` listening on the webserver's port."""
    port = int(stack.dagster.rsplit(":", 1)[1])
    for process in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp")):
                return process
        except psutil.Error:
            continue
    raise AssertionError(f"no process listens on {port}")


def test_a_hung_webserver_delays_only_the_requests_that_need_it(stack: Stack) -> None:
    """The real dagster-webserver stopped with SIGSTOP, 50 concurrent POSTs (live and history,
    several enterprises): GET /health and the warehouse reads stay under a second, every POST
    ends as 503 naming the webserver (none hangs, none is a 500), /sync/status answers without
    the running list. SIGCONT at the end, and POSTs start syncs again."""
    webserver = _webserver(stack)
    numbers = sorted(SEED)
    webserver.suspend()
    try:
        with httpx.Client(timeout=120) as http, ThreadPoolExecutor(50) as pool:
            posts = [pool.submit(http.post, f"{stack.api}/sync/live/{numbers[i % 5]}") if i % 2 else
                     pool.submit(http.post, f"{stack.api}/sync/{numbers[i % 5]}", json={}) for i in range(50)]
            time.sleep(1.0)  # every POST is in: the gate's threads are stuck on the webserver
            slowest: dict[str, float] = {}
            with httpx.Client(timeout=30) as probe:
                for _ in range(10):
                    for path in ("/health", "/sync/live/status", "/enterprises", "/sync/live/today"):
                        began = time.monotonic()
                        code = probe.get(f"{stack.api}{path}").status_code
                        slowest[path] = max(slowest.get(path, 0.0), time.monotonic() - began)
                        assert code == 200, (path, code)
                    time.sleep(0.2)
                began = time.monotonic()
                status = probe.get(f"{stack.api}/sync/status")
                status_s = time.monotonic() - began
            answers = [f.result() for f in posts]
    finally:
        webserver.resume()
    assert max(slowest.values()) < 1.0, slowest
    assert status.status_code == 200 and status.json()["running"] is None and status_s < 5, status.text
    codes = sorted({a.status_code for a in answers})
    assert codes == [503], [a.text for a in answers if a.status_code != 503][:3]
    assert all("Dagster webserver" in a.json()["detail"] for a in answers), {a.json()["detail"] for a in answers}
    started = httpx.post(f"{stack.api}/sync/live/0201", timeout=120)
    assert started.status_code == 202, started.text
    assert wait_run(stack, started.json()["run_id"]) == "SUCCESS"


@pytest.mark.parametrize(("method", "path", "body", "code", "words"), [
    ("post", "/sync/live/9998", None, 404, "unknown or not active"),
    ("post", "/sync/9998", {}, 404, "unknown or not active"),
    ("post", "/sync/live/03;27", None, 422, "pattern"),
    ("post", f"/sync/live/{'1' * 33}", None, 422, "pattern"),
    ("post", "/sync/0327", {"date_from": "2025-07-03", "date_to": "2025-06-22"}, 422, "after date_to"),
    ("post", "/sync/0327", {"date_from": "2025-02-30"}, 422, "day is out of range"),
    ("post", "/sync/0327", {"date_from": "2025/06/22"}, 422, "must be a date string YYYY-MM-DD"),
    ("post", "/sync/0327", {"date_from": "2024-01-01"}, 422, "before ASTERISK_HISTORY_START"),
    ("post", "/sync/0327", {"date_to": "2999-01-01"}, 422, "in the future"),
    ("post", "/sync/0327", {"force_all": "yes"}, 422, "valid boolean"),
    ("post", "/sync/0327", {"enterprise_id": 327}, 422, "string"),
    ("post", "/sync/0327", [], 422, "object"),
    ("post", "/sync/all", {"date_from": 20250622}, 422, "must be a date string YYYY-MM-DD"),
    ("post", "/sync/live/0327?wait=maybe", None, 422, "boolean"),
    ("post", "/sync/live/0327?wait=true&timeout=-1", None, 422, "greater than 0"),
    ("get", "/sync/nothing-here", None, 405, "Method Not Allowed"),
    ("post", "/sync/status", None, 405, "Method Not Allowed: POST /sync/status accepts GET"),
    ("post", "/sync/live/status", None, 405, "Method Not Allowed"),
    ("post", "/sync/live/today", None, 405, "Method Not Allowed"),
    ("get", "/no/such/page", None, 404, "Not Found"),
])
def test_bad_input_gets_a_clear_4xx(stack: Stack, method: str, path: str, body: Any, code: int, words: str) -> None:
    kwargs = {} if body is None else {"json": body}
    response = getattr(httpx, method)(f"{stack.api}{path}", **kwargs)
    assert response.status_code == code, response.text
    assert words in response.text
    answer = response.json()  # the one error shape: a sentence, and the field errors of a 422
    assert set(answer) == {"detail", "errors"} and isinstance(answer["detail"], str)
    assert bool(answer["errors"]) == (code == 422), answer
    if code == 405:
        assert response.headers["allow"] in ("GET", "POST")


def test_malformed_json_body_is_422(stack: Stack) -> None:
    response = httpx.post(f"{stack.api}/sync/0327", content=b'{"force_all": tru',
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "JSON decode error" in response.text


def test_docs_load_from_the_sidecar_alone(stack: Stack) -> None:
    """/docs and /redoc name no other host; every asset they load comes from the sidecar."""
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{stack.api}{page}").text
        assert "http://" not in html and "https://" not in html, html
        for asset in re.findall(r"""(?:src|href)=["'](/[^"']+)""", html):
            response = httpx.get(f"{stack.api}{asset}")
            assert response.status_code == 200 and len(response.content) > 1000, asset


def test_metrics(stack: Stack) -> None:
    text_ = httpx.get(f"{stack.api}/metrics").text
    assert 'asterisk_syncs_total{enterprise="0327",flow="live",status="success"}' in text_
    assert "# TYPE asterisk_last_live_success_age_seconds gauge" in text_
    calls = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text_.splitlines()
             if line.startswith("asterisk_calls{")}
    truth = db(stack, "SELECT count(*) FROM calls WHERE enterprise_id = '0327' AND data_source = 'live'")[0][0]
    assert calls['asterisk_calls{enterprise="0327",data_source="live"}'] == truth
    assert SECRET_MARK not in text_
