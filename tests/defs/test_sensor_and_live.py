"""Enterprise partition sensor, the live job and the live schedule's overlap guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.utils import make_new_run_id
from sqlalchemy import Engine, text

from asterisk_pipeline.defs.live import LIVE_TAGS, build_live_schedule, live_sync_job
from asterisk_pipeline.defs.sensors import enterprise_partitions_sensor
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from asterisk_pipeline.names import LIVE_JOB as LIVE_JOB_NAME
from asterisk_pipeline.names import TAG_FAILING
from asterisk_pipeline.settings import Settings
from tests.support.defs import DEFAULTS, NUMBERS, add_enterprises, settings_without_env, today_files

live_sync_schedule = build_live_schedule(DEFAULTS)


def _tick(instance: DagsterInstance, resources: dict[str, object]) -> SensorResult | SkipReason:
    """One sensor tick, with its partition requests applied as the daemon would."""
    context = build_sensor_context(
        instance=instance, resources={"warehouse": resources["warehouse"]}
    )
    result = enterprise_partitions_sensor(context)
    if isinstance(result, SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if type(request).__name__ == "AddDynamicPartitionsRequest":
                instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def test_sensor_follows_the_active_enterprises(
    engine: Engine, resources: dict[str, object]
) -> None:
    instance = DagsterInstance.ephemeral()
    add_enterprises(engine, *NUMBERS)
    add_enterprises(engine, "0555", active=False)
    assert isinstance(_tick(instance, resources), SensorResult)
    assert sorted(instance.get_dynamic_partitions(ENTERPRISES)) == list(NUMBERS)
    assert isinstance(_tick(instance, resources), SkipReason)  # nothing changed

    add_enterprises(engine, "0100", active=False)
    add_enterprises(engine, "0327")
    _tick(instance, resources)
    assert sorted(instance.get_dynamic_partitions(ENTERPRISES)) == ["0200", "0327"]
    with engine.connect() as conn:  # disabling never touches the warehouse rows
        assert (
            conn.execute(
                text("SELECT count(*) FROM enterprises WHERE number = '0100'")
            ).scalar_one()
            == 1
        )


def test_live_job_materializes_each_enterprise_and_names_a_broken_one(
    engine: Engine,
    resources: dict[str, object],
    logs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # today_files' calls end in the afternoon: in the PBX's evening the healthy PBXes would be
    # 'stale' (no event for 60 working minutes) and this test would depend on the time of day
    monkeypatch.setenv("ASTERISK_HEALTH_WORKING_HOURS", "00:00-00:01")
    today_files(logs_dir, *NUMBERS)
    add_enterprises(engine, *NUMBERS)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, [*NUMBERS, "0999"])
    ok = live_sync_job.execute_in_process(instance=instance, resources=resources)
    assert ok.success
    events = ok.asset_materializations_for_node("live_sync")
    assert sorted(e.partition for e in events) == list(NUMBERS)
    assert all(e.asset_key.to_user_string() == "live_calls" for e in events)
    assert all(e.metadata["rows_read"].value > 0 for e in events)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM calls WHERE data_source = 'live'")).scalar_one()
            > 0
        )

    add_enterprises(engine, "0999")  # no log directory: fails, the others still sync
    bad = live_sync_job.execute_in_process(
        instance=instance, resources=resources, raise_on_error=False
    )
    # one PBX down never turns the fleet's run red (SPEC §4.8); it is named instead
    assert bad.success
    materialized = bad.asset_materializations_for_node("live_sync")
    assert sorted(e.partition for e in materialized) == list(NUMBERS)
    assert all(e.metadata["failing_enterprises"].value == ["0999"] for e in materialized)
    checks = {e.partition: e for e in bad.get_asset_check_evaluations()}
    assert sorted(checks) == [*NUMBERS, "0999"]
    assert not checks["0999"].passed and "missing_file" in str(checks["0999"].metadata["error_this_cycle"].value)
    assert all(checks[n].passed for n in NUMBERS)
    assert instance.get_run_by_id(bad.run_id).tags[TAG_FAILING] == "0999"  # type: ignore[union-attr]
    with engine.connect() as conn:
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM sync_runs WHERE enterprise_id = '0999' "
                    "AND flow = 'live' AND status = 'failed'"
                )
            ).scalar_one()
            >= 1
        )


def test_live_run_fails_when_every_enterprise_fails(
    engine: Engine, resources: dict[str, object]
) -> None:
    add_enterprises(engine, "0998", "0999")  # neither has a log directory
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, ["0998", "0999"])
    result = live_sync_job.execute_in_process(instance=instance, resources=resources, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("live_sync")
    assert failure is not None and "failed for 0998, 0999: every enterprise failed" in str(failure.error)


def test_schedule_requests_one_run_and_skips_while_one_is_active() -> None:
    with instance_for_test() as instance:  # schedules need an instance with a ref
        _schedule_guard(instance)


def _schedule_guard(instance: DagsterInstance) -> None:
    result = live_sync_schedule(build_schedule_context(instance=instance))
    assert isinstance(result, RunRequest) and result.tags == LIVE_TAGS

    # QUEUED needs a code-location origin to create; the filter treats it like these
    for status in (
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
    ):
        # a run record as the run queue / launcher leaves it (no code location needed)
        run = instance.add_run(
            DagsterRun(job_name=LIVE_JOB_NAME, run_id=make_new_run_id(), status=status)
        )
        skipped = live_sync_schedule(build_schedule_context(instance=instance))
        assert isinstance(skipped, SkipReason) and run.run_id in skipped.skip_message
        instance.report_run_canceled(run)
    instance.add_run(
        DagsterRun(job_name="other_job", run_id=make_new_run_id(), status=DagsterRunStatus.STARTED)
    )
    assert isinstance(live_sync_schedule(build_schedule_context(instance=instance)), RunRequest)


def test_live_schedule_follows_the_settings() -> None:
    assert live_sync_schedule.cron_schedule == "*/5 * * * *"
    assert live_sync_schedule.default_status == DefaultScheduleStatus.RUNNING
    manual = build_live_schedule(settings_without_env(live_interval_minutes=1, live_schedule=" OFF "))
    assert manual.cron_schedule == "*/1 * * * *"
    assert manual.default_status == DefaultScheduleStatus.STOPPED


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASTERISK_LIVE_INTERVAL_MINUTES", "60", "ASTERISK_LIVE_INTERVAL_MINUTES must be 1-59, got 60"),
        ("ASTERISK_LIVE_INTERVAL_MINUTES", "five", "ASTERISK_LIVE_INTERVAL_MINUTES must be an integer"),
        ("ASTERISK_LIVE_SCHEDULE", "maybe", "ASTERISK_LIVE_SCHEDULE must be 'on' or 'off', got 'maybe'"),
        ("ASTERISK_HISTORY_START", "2025-13-01", "ASTERISK_HISTORY_START must be YYYY-MM-DD"),
        ("ASTERISK_MAX_REJECTED_SHARE", "1.5", "max_rejected_share"),
        ("ASTERISK_LIVE_FRESHNESS_MINUTES", "0", "live_freshness_minutes"),
    ],
)
def test_bad_values_fail_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        Settings()
