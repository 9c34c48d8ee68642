"""Fleet health on the live stack (SPEC §4.8): one PBX without files among several — the live
runs succeed, the PBX is shown failing by name (health endpoint, metric, check), exactly one
alert reaches the local webhook, and one recovery alert when its file appears.

Runs after test_live_stack.py (file order) on the same package stack, and leaves its
enterprise inactive."""
from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from tests.support.api import Stack

pytestmark = pytest.mark.slow  # make quick leaves it to make test

SILENT = "0777"
CHECKS = """query ($partition: String) {
  assetCheckExecutions(assetKey: {path: ["live_calls"]}, checkName: "live_sync_healthy",
                       partition: $partition, limit: 1) {
    runId partition evaluation { success }
  }
}"""


def _sql(stack: Stack, sql: str) -> list[Any]:
    engine = stack.engine()
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _sync(stack: Stack, target: str) -> dict[str, Any]:
    response = httpx.post(f"{stack.api}/sync/live/{target}", params={"wait": "true", "timeout": 150}, timeout=180)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _alerts(stack: Stack) -> list[tuple[str, str]]:
    assert stack.webhook is not None
    return [(a["old_status"], a["new_status"]) for a in stack.webhook.received if a["enterprise"] == SILENT]


def _latest_check(stack: Stack) -> dict[str, Any]:
    client = stack.client()
    try:
        found = client.query(CHECKS, {"partition": SILENT})["assetCheckExecutions"]
    finally:
        client.close()
    assert found, "no live_sync_healthy evaluation for the partition"
    latest: dict[str, Any] = found[0]
    return latest


def test_a_pbx_without_files_is_named_alerted_once_and_recovers(stack: Stack) -> None:
    _sql(stack, "INSERT INTO enterprises (number, name, host, secret, ip, is_enabled, active) "
                f"VALUES ('{SILENT}', 'Silent', 'silent.vochi.lan', 'token_here', '10.88.10.77', true, true)")
    try:
        _sync(stack, SILENT)  # adds its partition; a run of only the broken PBX is red (all failed)
        fleet_run = _sync(stack, "all")
        assert fleet_run["status"] == "SUCCESS", fleet_run  # the others synced: the fleet's run is green
        assert any(f["enterprise_id"] == SILENT for f in fleet_run["statistics"]["failures"])
        last = _sync(stack, "all")
        assert last["status"] == "SUCCESS"

        one = httpx.get(f"{stack.api}/fleet/health/{SILENT}").json()
        assert one["status"] == "failing" and one["last_error_kind"] == "missing_file", one
        failed = _sql(stack, f"SELECT count(*) FROM sync_runs WHERE enterprise_id = '{SILENT}' AND status = 'failed'")
        assert one["consecutive_failures"] == failed[0][0] >= 3
        fleet = httpx.get(f"{stack.api}/fleet/health").json()
        statuses = {e["enterprise_id"]: e["status"] for e in fleet["enterprises"]}
        assert statuses[SILENT] == "failing" and fleet["counts"]["failing"] >= 1
        assert statuses["0327"] == "ok"

        metrics = httpx.get(f"{stack.api}/metrics").text
        assert f'asterisk_enterprise_status{{enterprise="{SILENT}",status="failing"}} 1' in metrics
        assert f'asterisk_enterprise_status{{enterprise="{SILENT}",status="ok"}} 0' in metrics
        assert f'asterisk_sync_failures_total{{enterprise="{SILENT}",flow="live"}} {failed[0][0]}' in metrics

        check = _latest_check(stack)
        assert check["partition"] == SILENT and check["evaluation"]["success"] is False
        assert check["runId"] == last["run_id"]  # reported by the newest live run itself
        assert _alerts(stack) == [("unknown", "failing")]  # once, not every cycle

        write_day_file(day_file_path(stack.logs, SILENT, stack.today), token=token_for(SILENT),
                       day=stack.today, calls=3, seed=77, start_id=77 * 10**7, dirty_share=0.0)
        recovered = _sync(stack, "all")
        assert recovered["status"] == "SUCCESS"
        assert httpx.get(f"{stack.api}/fleet/health/{SILENT}").json()["status"] == "ok"
        assert _latest_check(stack)["evaluation"]["success"] is True
        _sync(stack, "all")
        assert _alerts(stack) == [("unknown", "failing"), ("failing", "ok")]
        assert stack.webhook is not None and all(p == "/hooks/secret-token-123" for p in stack.webhook.paths)
    finally:
        _sql(stack, f"UPDATE enterprises SET active = false, is_enabled = false WHERE number = '{SILENT}'")


def test_unknown_and_malformed_enterprises(stack: Stack) -> None:
    missing = httpx.get(f"{stack.api}/fleet/health/nosuch")
    assert missing.status_code == 404 and missing.json()["detail"] == "enterprise nosuch is unknown or not active"
    bad = httpx.get(f"{stack.api}/fleet/health/{'x' * 40}")
    assert bad.status_code == 422 and bad.json()["errors"]
