"""The code location loads the way `dagster dev` / the webserver load it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("with_home", [True, False], ids=["DAGSTER_HOME", "no-DAGSTER_HOME"])
def test_definitions_validate(tmp_path: Path, with_home: bool) -> None:
    """Without DAGSTER_HOME the CLI reads the repo's dagster.yaml: it must not need the variable."""
    dagster = Path(sys.executable).with_name("dagster")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["ASTERISK_HOME"] = str(tmp_path / "home")
    if with_home:
        env["DAGSTER_HOME"] = str(tmp_path)
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_definitions_content() -> None:
    from tests.support.defs import DEFAULT_DEFS as defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "pbx_day_files",
        "calls",
        "call_participants",
        "call_events",
        "sync_statistics",
        "live_calls",
        "missed_calls",
    }
    for key in ("calls", "call_participants", "call_events"):  # lineage: day files → tables
        assert {p.to_user_string() for p in graph.get(_key(key)).parent_keys} == {"pbx_day_files"}
    assert {p.to_user_string() for p in graph.get(_key("missed_calls")).parent_keys} == {"calls"}
    assert defs.resolve_job_def("live_sync_job") is not None
    assert defs.resolve_schedule_def("live_sync_schedule").cron_schedule == "*/5 * * * *"
    assert defs.resolve_sensor_def("enterprise_partitions_sensor").minimum_interval_seconds == 45


def _key(name: str):  # type: ignore[no-untyped-def]
    from dagster import AssetKey

    return AssetKey(name)
