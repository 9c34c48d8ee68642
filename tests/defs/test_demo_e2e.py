"""End to end: the demo starts `dagster dev`, the sensor adds the enterprises, a live run launched
through GraphQL succeeds, and SIGINT (Ctrl-C) stops everything. ~30-60 s."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.dagster_dev import free_port, wait_until

pytestmark = pytest.mark.slow  # make quick leaves it to make test

ROOT = Path(__file__).resolve().parents[2]


def _gql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.skipif(os.environ.get("ASTERISK_SKIP_E2E") == "1", reason="ASTERISK_SKIP_E2E=1")
def test_demo_runs_dagster_dev_end_to_end(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "ASTERISK_DATABASE_URL"}
    env["ASTERISK_HOME"] = str(tmp_path / "home")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asterisk_pipeline.devtools.demo",
            "--port",
            str(port),
            "--days",
            "2",
            "--calls-per-day",
            "20",
            "--live-every",
            "2",
            "--api-port",
            str(api_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).status
                == 200
            ),
            120,
            "the webserver",
        )
        location = wait_until(
            lambda: next(
                (
                    r
                    for r in _gql(
                        port,
                        "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }",
                    )["repositoriesOrError"]["nodes"]
                ),
                None,
            ),
            60,
            "the code location",
        )
        partitions = """{ partitionSetsOrError: assetNodeOrError(assetKey: {path: ["live_calls"]}) {
            ... on AssetNode { partitionKeys } } }"""
        wait_until(
            lambda: len(_gql(port, partitions)["partitionSetsOrError"]["partitionKeys"]) == 5,
            90,
            "the sensor to add the five enterprise partitions",
        )
        launched = _gql(
            port,
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {
                "p": {
                    "selector": {
                        "repositoryLocationName": location["location"]["name"],
                        "repositoryName": location["name"],
                        "jobName": "live_sync_job",
                    },
                    "runConfigData": {},
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        run_query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"

        def run_finished() -> str | None:
            status = _gql(port, run_query, {"id": run_id})["runOrError"]["status"]
            return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

        status = wait_until(run_finished, 120, "the live run")
        assert status == "SUCCESS"

        history = [
            {"path": [k]} for k in ("calls", "call_participants", "call_events")  # pbx_day_files: external
        ]
        backfill = _gql(
            port,
            """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
            {"p": {"assetSelection": history, "allPartitions": True}},
        )["launchPartitionBackfill"]
        assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
        query = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
            status runs(limit: 50) { status tags { key value } } } } }"""
        finished = ("COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED", "CANCELED")

        def backfill_finished() -> dict[str, Any] | None:
            found = _gql(port, query, {"id": backfill["backfillId"]})["partitionBackfillOrError"]
            return found if found["status"] in finished else None

        done = wait_until(backfill_finished, 180, "the backfill")
        assert done["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), done
        # 3 days (start = today - 2, end_offset=1) × 5 enterprises = 15 keys, batched: not 15 runs
        assert 1 <= len(done["runs"]) <= 5 and all(r["status"] == "SUCCESS" for r in done["runs"])
        # the demo's sidecar answers from the same (SQLite) warehouse
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/sync/live/status", timeout=10) as response:
            status = json.load(response)
        assert status["auto_sync_interval"] == 1
        assert {d["data_source"] for d in status["data_sources"]} >= {"downloaded", "live"}
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            output, _ = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            output, _ = demo.communicate()
    assert demo.returncode is not None
    assert "Dagster services shut down" in output, output[-3000:]
    for url in (f"http://127.0.0.1:{port}/server_info", f"http://127.0.0.1:{api_port}/"):
        with pytest.raises(OSError):  # nothing listens any more
            urllib.request.urlopen(url, timeout=2)
    # the banner's one line points the CLI of another shell (elsewhere) at the demo's warehouse
    hint = re.search(r"\[demo\] CLI on it: +export (ASTERISK_HOME)=(\S+)", output)
    assert hint, output[-3000:]
    assert f"[demo] warehouse:         sqlite:///{tmp_path / 'home'}/asterisk.db" in output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shell = {k: v for k, v in os.environ.items() if not k.startswith("ASTERISK_")}
    shell[hint.group(1)] = shlex.split(hint.group(2))[0]
    stats = subprocess.run([str(Path(sys.executable).parent / "asterisk-pipeline"), "stats", "--json"],
                           cwd=elsewhere, env=shell, capture_output=True, text=True, check=False)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) and not (elsewhere / ".asterisk").exists()
