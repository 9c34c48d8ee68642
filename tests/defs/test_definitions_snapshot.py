"""A snapshot of the code location: what operators, dagster.yaml and the sidecar rely on.

Asset keys, groups, owners, kinds, lineage, partitions, backfill policy, pools, check names,
jobs with their tags, schedules, sensors and resource fields are compared with the checked-in
``definitions_snapshot.json`` (built from the ``Settings`` defaults), so a rename or a lost
partition dimension fails here instead of in a running deployment. After a deliberate change:

    ASTERISK_TEST_UPDATE_SNAPSHOT=1 python -m pytest tests/defs/test_definitions_snapshot.py

and review the diff of the JSON file in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dagster import (
    Definitions,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from asterisk_pipeline import names
from asterisk_pipeline.defs import build_definitions
from tests.support.defs import DEFAULT_DEFS, settings_without_env

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def _partitions(p: PartitionsDefinition | None) -> Any:
    if p is None:
        return None
    if isinstance(p, MultiPartitionsDefinition):
        return {"multi": {d.name: _partitions(d.partitions_def) for d in p.partitions_defs}}
    if isinstance(p, TimeWindowPartitionsDefinition):
        return {
            "time_window": {
                "cron": p.cron_schedule,
                "start": p.start.isoformat(),
                "timezone": p.timezone,
                "end_offset": p.end_offset,
                "fmt": p.fmt,
            }
        }
    if isinstance(p, DynamicPartitionsDefinition):
        return {"dynamic": p.name}
    return {type(p).__name__: str(p)}


def describe(defs: Definitions) -> dict[str, Any]:
    """Everything the snapshot pins, as plain JSON values in a stable order."""
    graph = defs.resolve_asset_graph()
    assets: dict[str, Any] = {}
    nodes: dict[str, Any] = {}
    for assets_def in graph.assets_defs:
        if assets_def.is_executable and assets_def.keys:
            policy = assets_def.backfill_policy
            nodes[assets_def.node_def.name] = {
                "assets": sorted(k.to_user_string() for k in assets_def.keys),
                "backfill_policy": None
                if policy is None
                else {"type": policy.policy_type.value, "max_partitions_per_run": policy.max_partitions_per_run},
                "pool": assets_def.op.pool,
                "resources": sorted(assets_def.required_resource_keys),
            }
        for spec in assets_def.specs:
            assets[spec.key.to_user_string()] = {
                "group": spec.group_name,
                "owners": list(spec.owners),
                "kinds": sorted(spec.kinds),
                "tags": dict(sorted(spec.tags.items())),
                "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
                "partitions": _partitions(spec.partitions_def),
                "skippable": spec.skippable,
                "materialized_by": assets_def.node_def.name if assets_def.is_executable else None,
            }
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    check_resources = {
        key.name: sorted(_check_def(defs, key.name).required_resource_keys)
        for key in graph.asset_check_keys
    }
    jobs = {
        job.name: {
            "tags": dict(sorted(job.tags.items())),
            "ops": {n.name: dict(sorted(n.definition.tags.items())) for n in job.nodes}
            if job.name == names.LIVE_JOB
            else sorted(n.name for n in job.nodes),
            "executor": job.executor_def.name,
        }
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "job": s.job_name,
            "default_status": s.default_status.value,
            "timezone": s.execution_timezone,
        }
        for s in defs.schedules or []
    }
    sensors = {
        s.name: {"minimum_interval_seconds": s.minimum_interval_seconds, "default_status": s.default_status.value}
        for s in defs.sensors or []
    }
    resources = {
        key: {"class": type(r).__name__, "fields": sorted(type(r).model_fields)}
        for key, r in sorted((defs.resources or {}).items())
    }
    return {
        "assets": dict(sorted(assets.items())),
        "asset_nodes": dict(sorted(nodes.items())),
        "checks": {k: sorted(v) for k, v in sorted(checks.items())},
        "check_resources": dict(sorted(check_resources.items())),
        "jobs": dict(sorted(jobs.items())),
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": resources,
    }


def _check_def(defs: Definitions, name: str) -> Any:
    for check in defs.asset_checks or []:
        if any(k.name == name for k in check.check_keys):  # type: ignore[union-attr]
            return check
    raise KeyError(name)


def test_definitions_match_the_snapshot() -> None:
    actual = describe(DEFAULT_DEFS)
    if os.environ.get("ASTERISK_TEST_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    # JSON round trip: tuples become lists, keys stay strings
    assert json.loads(json.dumps(actual)) == expected, (
        "the definitions changed; if on purpose, regenerate the snapshot (see the module docstring)"
    )


def test_the_snapshot_names_come_from_names_py() -> None:
    """What the sidecar addresses by name is in the snapshot under the same name."""
    snapshot = json.loads(SNAPSHOT.read_text())
    assert set(names.HISTORY_ASSETS) | {
        names.PBX_DAY_FILES, names.SYNC_STATISTICS, names.LIVE_CALLS, names.MISSED_CALLS
    } == set(snapshot["assets"])
    assert snapshot["asset_nodes"][names.HISTORY_OP]["assets"] == sorted(names.HISTORY_ASSETS)
    # the day files are the external upstream of every history asset, never materialized
    assert snapshot["assets"][names.PBX_DAY_FILES]["materialized_by"] is None
    for key in names.HISTORY_ASSETS:
        assert snapshot["assets"][key]["deps"] == [names.PBX_DAY_FILES]
    assert snapshot["asset_nodes"][names.HISTORY_OP]["pool"] == names.HISTORY_POOL
    assert snapshot["jobs"][names.LIVE_JOB]["tags"] == {names.TAG_FLOW: names.FLOW_LIVE}
    assert names.LIVE_OP in snapshot["jobs"][names.LIVE_JOB]["ops"]
    assert {names.LIVE_SCHEDULE, names.CHECKS_SCHEDULE} == set(snapshot["schedules"])
    assert [names.ENTERPRISE_SENSOR] == list(snapshot["sensors"])
    multi = snapshot["assets"][names.CALLS]["partitions"]["multi"]
    assert multi[names.ENTERPRISE_DIMENSION] == {"dynamic": names.ENTERPRISES_PARTITIONS}
    assert set(multi) == {names.DATE_DIMENSION, names.ENTERPRISE_DIMENSION}


def test_settings_reach_the_definitions_and_nothing_else_changes() -> None:
    """Every load-time setting lands where it should; the rest of the snapshot stays put."""
    custom = settings_without_env(
        history_start="2024-06-01",
        pbx_timezone="Europe/Moscow",
        backfill_run_partitions=92,
        live_interval_minutes=1,
        live_schedule="off",
        checks_cron="0 * * * *",
    )
    actual = json.loads(json.dumps(describe(build_definitions(custom))))
    expected = json.loads(SNAPSHOT.read_text())
    for key in (*names.HISTORY_ASSETS, names.MISSED_CALLS):
        window = expected["assets"][key]["partitions"]["multi"][names.DATE_DIMENSION]["time_window"]
        window.update(start="2024-06-01T00:00:00+03:00", timezone="Europe/Moscow")
    for node in (names.HISTORY_OP, "missed_calls_figures"):
        expected["asset_nodes"][node]["backfill_policy"]["max_partitions_per_run"] = 92
    expected["schedules"][names.LIVE_SCHEDULE].update(cron="*/1 * * * *", default_status="STOPPED")
    expected["schedules"][names.CHECKS_SCHEDULE]["cron"] = "0 * * * *"
    assert actual == expected
