"""History assets: one partition, a multi-partition run with a failing day, statistics."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, materialize
from dagster._core.definitions.backfill_policy import BackfillPolicyType
from sqlalchemy import Engine, text

from asterisk_pipeline.defs.assets import HISTORY_KEYS, build_history_sync, sync_statistics
from asterisk_pipeline.model import SHAPES
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from asterisk_pipeline.settings import DEFAULT_BACKFILL_RUN_PARTITIONS, Settings
from tests.support.defs import NUMBERS, add_enterprises, history_sync, settings_without_env

MAX_PARTITIONS_PER_RUN = DEFAULT_BACKFILL_RUN_PARTITIONS


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def _instance(*numbers: str) -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, list(numbers))
    return instance


def test_one_partition_lands_and_is_idempotent(
    engine: Engine, resources: dict[str, object]
) -> None:
    add_enterprises(engine, *NUMBERS)
    instance = _instance(*NUMBERS)
    result = materialize(
        [history_sync], partition_key="2025-07-02|0200", instance=instance, resources=resources
    )
    assert result.success
    events = result.asset_materializations_for_node("history_sync")
    assert {(e.asset_key.to_user_string(), e.partition) for e in events} == {
        (k.to_user_string(), "2025-07-02|0200") for k in HISTORY_KEYS
    }
    calls_meta = next(e for e in events if e.asset_key.to_user_string() == "calls").metadata
    assert calls_meta["new_calls"].value == 15 and calls_meta["rows_read"].value > 0
    assert calls_meta["day_calls"].value > 0 and 0 <= calls_meta["answered_share"].value <= 1
    shapes = calls_meta["shapes"].value  # every shape of SPEC §4.2, 'unknown' only for NULL shapes
    assert set(SHAPES) <= set(shapes) <= {*SHAPES, "unknown"}
    assert sum(shapes.values()) == calls_meta["day_calls"].value
    assert _count(engine, "SELECT count(*) FROM calls WHERE enterprise_id = '0200'") == 15
    assert _count(engine, "SELECT count(*) FROM calls WHERE enterprise_id = '0100'") == 0

    again = materialize(
        [history_sync], partition_key="2025-07-02|0200", instance=instance, resources=resources
    )
    meta = again.asset_materializations_for_node("history_sync")[1].metadata
    assert meta["new_calls"].value == 0 and meta["new_events"].value == 0
    assert _count(engine, "SELECT count(*) FROM calls") == 15


def test_force_rereads_the_day(engine: Engine, resources: dict[str, object]) -> None:
    add_enterprises(engine, "0100")
    instance = _instance("0100")
    materialize(
        [history_sync], partition_key="2025-07-01|0100", instance=instance, resources=resources
    )
    forced = materialize(
        [history_sync],
        partition_key="2025-07-01|0100",
        instance=instance,
        resources=resources,
        run_config={"ops": {"history_sync": {"config": {"force": True}}}},
    )
    meta = forced.asset_materializations_for_node("history_sync")[0].metadata
    assert meta["rows_read"].value > 0 and meta["new_calls"].value == 0


def test_multi_partition_run_lands_good_days_and_fails_listing_bad_ones(
    engine: Engine,
    resources: dict[str, object],
) -> None:
    add_enterprises(engine, *NUMBERS, "0999")  # 0999 has no log directory
    instance = _instance(*NUMBERS, "0999")
    result = materialize(
        [history_sync],
        instance=instance,
        resources=resources,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": "2025-07-01|0100",
            "dagster/asset_partition_range_end": "2025-07-03|0999",
        },
    )
    assert not result.success
    landed = {e.partition for e in result.asset_materializations_for_node("history_sync")}
    assert landed == {f"2025-07-0{d}|{n}" for d in (1, 2, 3) for n in NUMBERS}
    assert _count(engine, "SELECT count(*) FROM calls") == 15 * 6
    assert (
        _count(
            engine,
            "SELECT count(*) FROM sync_runs WHERE enterprise_id = '0999' AND status = 'failed'",
        )
        == 3
    )
    assert (
        _count(
            engine,
            "SELECT count(*) FROM download_sync WHERE enterprise_id = '0999' "
            "AND last_failed_sync IS NOT NULL",
        )
        == 1
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "3 of 9 day syncs failed" in str(failure.event_specific_data.error.message)
    # one run for the whole rectangle, run id recorded by the core
    assert _count(engine, "SELECT count(DISTINCT dagster_run_id) FROM sync_runs") == 1


def test_sync_statistics(engine: Engine, resources: dict[str, object]) -> None:
    add_enterprises(engine, *NUMBERS)
    instance = _instance(*NUMBERS)
    materialize(
        [history_sync], partition_key="2025-07-01|0100", instance=instance, resources=resources
    )
    result = materialize([sync_statistics], instance=instance, resources=resources)
    meta = result.asset_materializations_for_node("sync_statistics")[0].metadata
    assert meta["calls"].value == 15 and meta["enterprises_with_calls"].value == 1
    assert meta["avg_duration_s"].value > 0 and "0100" in meta["by_enterprise"].value


def test_a_year_of_five_enterprises_backfills_in_at_most_20_runs() -> None:
    """Mirrors the backfill daemon (1.13): split the subset into key ranges, then each range into
    runs of at most max_partitions_per_run. Internal API: re-check on Dagster upgrades."""
    from datetime import date, timedelta

    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.definitions.partitions.subset.default import DefaultPartitionsSubset

    policy = history_sync.backfill_policy
    assert policy.policy_type == BackfillPolicyType.MULTI_RUN
    assert policy.max_partitions_per_run == MAX_PARTITIONS_PER_RUN
    numbers = ["0100", "0200", "0201", "0327", "0367"]
    instance = _instance(*numbers)
    partitions_def = history_sync.partitions_def
    days = [(date(2025, 1, 1) + timedelta(days=k)).isoformat() for k in range(365)]
    with partition_loading_context(dynamic_partitions_store=instance):
        subset = DefaultPartitionsSubset({f"{d}|{n}" for d in days for n in numbers})
        ranges = subset.get_partition_key_ranges(partitions_def)
        sizes = [len(partitions_def.get_partition_keys_in_range(r)) for r in ranges]
    assert sum(sizes) == 365 * 5
    runs = sum(-(-size // MAX_PARTITIONS_PER_RUN) for size in sizes)
    assert runs <= 20, (len(ranges), sizes)


def test_backfill_run_size_is_validated_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().backfill_run_partitions == DEFAULT_BACKFILL_RUN_PARTITIONS == 366
    monkeypatch.setenv("ASTERISK_BACKFILL_RUN_PARTITIONS", "92")
    assert Settings().backfill_run_partitions == 92
    assert build_history_sync(Settings()).backfill_policy.max_partitions_per_run == 92
    for bad, words in (("ninety", "must be an integer"), ("0", "must be 1..10000"),
                       ("10001", "must be 1..10000")):
        monkeypatch.setenv("ASTERISK_BACKFILL_RUN_PARTITIONS", bad)
        with pytest.raises(ValueError, match=f"ASTERISK_BACKFILL_RUN_PARTITIONS {words}"):
            Settings()
    with pytest.raises(ValueError, match="must be 1..10000"):
        settings_without_env(backfill_run_partitions=0)


def test_backfill_run_size_reaches_the_backfill_policy() -> None:
    """The variable is read when the code location loads: check it in a fresh interpreter."""
    import os
    import subprocess
    import sys

    code = (
        "from asterisk_pipeline.defs import defs;"
        "print(defs.resolve_assets_def('calls').backfill_policy.max_partitions_per_run)"
    )
    env = {**os.environ, "ASTERISK_BACKFILL_RUN_PARTITIONS": "92"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0 and out.stdout.strip() == "92", out.stderr[-2000:]
    env["ASTERISK_BACKFILL_RUN_PARTITIONS"] = "-5"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0 and "ASTERISK_BACKFILL_RUN_PARTITIONS must be 1..10000" in bad.stderr
