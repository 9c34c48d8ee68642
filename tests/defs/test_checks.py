"""Each warehouse check passes on clean synced data and fails on deliberately broken data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import AssetCheckResult, AssetChecksDefinition, DagsterInstance, materialize
from sqlalchemy import Connection, Engine, text

from asterisk_pipeline.defs import checks
from asterisk_pipeline.defs.live import live_sync_job
from asterisk_pipeline.defs.resources import QualityThresholds, WarehouseResource
from asterisk_pipeline.names import CHECKS_JOB
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from tests.support.defs import DEFAULT_DEFS, NUMBERS, add_enterprises, history_sync, today_files

INTEGRITY = [
    checks.unique_call_ids,
    checks.answered_calls_have_answered_participant,
    checks.participants_reference_calls,
    checks.events_reference_calls,
    checks.rejected_share_under_threshold,
    checks.unlinked_forwarding_legs,
    checks.calls_have_times,
    checks.enterprise_numbers_valid,
    checks.missed_calls_followed_up,
]


def _name(check: AssetChecksDefinition) -> str:
    return next(iter(check.check_keys)).name


def _run(
    check: AssetChecksDefinition, db_url: str, thresholds: QualityThresholds | None = None
) -> AssetCheckResult:
    resources: dict[str, object] = {"warehouse": WarehouseResource(database_url=db_url)}
    if "quality_thresholds" in check.required_resource_keys:
        resources["quality_thresholds"] = thresholds or QualityThresholds()
    result = check(**resources)
    assert isinstance(result, AssetCheckResult)
    return result


@contextmanager
def _unchecked(engine: Engine) -> Iterator[Connection]:
    """A connection that may break referential integrity: FKs off (SQLite) / replica role (PG)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # outside any transaction, or SQLite ignores it
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield conn
        if engine.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


@pytest.fixture
def synced(engine: Engine, resources: dict[str, object]) -> Engine:
    add_enterprises(engine, *NUMBERS)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, list(NUMBERS))
    assert materialize(
        [history_sync],
        instance=instance,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2025-07-01|0100",
            "dagster/asset_partition_range_end": "2025-07-02|0200",
        },
    ).success
    return engine


def test_clean_data_passes_every_check(synced: Engine, db_url: str) -> None:
    for check in INTEGRITY:
        result = _run(check, db_url)
        assert result.passed, (_name(check), result.metadata)


def test_checks_job_runs_every_check(synced: Engine, resources: dict[str, object]) -> None:
    job = DEFAULT_DEFS.resolve_job_def(CHECKS_JOB)
    result = job.execute_in_process(
        instance=DagsterInstance.ephemeral(), resources=resources, raise_on_error=False
    )
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        **{_name(c): True for c in INTEGRITY},
        "live_freshness": False,
    }  # no live sync yet
    # the scheduled job is what keeps sync_statistics fresh: nothing else materializes it
    stats = result.asset_materializations_for_node("sync_statistics")
    assert len(stats) == 1 and stats[0].metadata["calls"].value > 0
    # live_freshness judges the materialization of the same run, so the UI never shows it
    # "Not evaluated" (on live_calls, materialized every minute, it nearly always did)
    freshness = next(e for e in result.get_asset_check_evaluations() if e.check_name == "live_freshness")
    assert freshness.asset_key.to_user_string() == "sync_statistics"
    assert freshness.target_materialization_data is not None
    assert freshness.target_materialization_data.run_id == result.run_id


def test_duplicate_call_ids_fail(synced: Engine, db_url: str) -> None:
    with _unchecked(synced) as conn:
        if synced.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE calls DROP CONSTRAINT uq_calls_enterprise_id_unique_id")
        else:  # SQLite cannot drop a UNIQUE constraint: rebuild the table without it
            conn.exec_driver_sql("CREATE TABLE calls_copy AS SELECT * FROM calls")
            conn.exec_driver_sql("DROP TABLE calls")
            conn.exec_driver_sql("ALTER TABLE calls_copy RENAME TO calls")
        conn.exec_driver_sql(
            "INSERT INTO calls (id, unique_id, enterprise_id, extensions_count, is_answered, data_source, created_at) "
            "SELECT id + 1000000, unique_id, enterprise_id, extensions_count, is_answered, data_source, created_at "
            "FROM calls WHERE id = (SELECT min(id) FROM calls)"
        )
    result = _run(checks.unique_call_ids, db_url)
    assert not result.passed and result.metadata["duplicate_unique_ids"].value == 1


def test_answered_call_without_answered_participant_fails(synced: Engine, db_url: str) -> None:
    before = _run(checks.answered_calls_have_answered_participant, db_url)
    expected = before.metadata["answered_hangup_without_extension"].value  # SPEC §4.4: allowed
    with synced.begin() as conn:
        call_id = conn.execute(
            text(
                "SELECT min(c.id) FROM calls c JOIN call_participants p ON p.call_id = c.id "
                "AND p.participant_status = 'answered' WHERE c.is_answered"
            )
        ).scalar_one()
        conn.execute(
            text(
                "UPDATE call_participants SET participant_status = 'no_answer' WHERE call_id = :id"
            ),
            {"id": call_id},
        )
    result = _run(checks.answered_calls_have_answered_participant, db_url)
    assert not result.passed and result.metadata["answered_without_participant"].value == 1
    assert result.metadata["answered_hangup_without_extension"].value == expected


def test_participant_of_a_missing_call_fails(synced: Engine, db_url: str) -> None:
    with _unchecked(synced) as conn:
        conn.exec_driver_sql(
            "INSERT INTO call_participants (call_id, extension, participant_status, ring_order) "
            "VALUES (987654321, '101', 'no_answer', 1)"
        )
    result = _run(checks.participants_reference_calls, db_url)
    assert not result.passed and result.metadata["orphan_participants"].value == 1


def test_event_of_a_missing_call_fails(synced: Engine, db_url: str) -> None:
    with synced.begin() as conn:
        conn.execute(
            text(
                "UPDATE call_events SET call_id = 987654321 WHERE id = (SELECT min(id) FROM call_events)"
            )
        )
    result = _run(checks.events_reference_calls, db_url)
    assert not result.passed and result.metadata["orphan_events"].value == 1


def test_unlinkable_forwarding_legs_are_counted(synced: Engine, db_url: str) -> None:
    before = _run(checks.unlinked_forwarding_legs, db_url)
    assert before.passed and before.metadata["unlinked_forwarding_legs"].value == 0
    with synced.begin() as conn:
        calls = conn.execute(text("SELECT count(*) FROM calls")).scalar_one()
        for i in range(calls // 50 + 1):  # more than 1 % of the calls
            conn.execute(text(
                "INSERT INTO call_legs (call_id, enterprise_id, unique_id, role, channel)"
                " VALUES (NULL, '0100', :uid, 'leg', 'Local/375290000002@179e93af-00000010;2')"
            ), {"uid": f"9999.{i}"})
    after = _run(checks.unlinked_forwarding_legs, db_url)
    assert not after.passed and after.metadata["unlinked_forwarding_legs"].value == calls // 50 + 1
    assert after.severity.value == "WARN"


def test_calls_without_usable_times_are_counted(synced: Engine, db_url: str) -> None:
    """Implausible stamps become NULL times (SPEC §4.2); past the threshold the check warns."""
    with synced.connect() as conn:
        calls = conn.execute(text("SELECT count(*) FROM calls")).scalar_one()
    assert _run(checks.calls_have_times, db_url).passed
    with synced.begin() as conn:
        conn.execute(text(
            "UPDATE calls SET start_time = NULL, duration = NULL"
            " WHERE id IN (SELECT id FROM calls ORDER BY id LIMIT :n)"
        ), {"n": calls // 10 + 1})
    after = _run(checks.calls_have_times, db_url)
    assert not after.passed and after.severity.value == "WARN"
    assert after.metadata["calls_without_start_time"].value == calls // 10 + 1


def test_rejected_share_over_threshold_fails(synced: Engine, db_url: str) -> None:
    with synced.begin() as conn:
        events = conn.execute(text("SELECT count(*) FROM call_events")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO rejected_events (enterprise_id, file_date, source_table, source_id, data_source, "
                "reason, created_at) VALUES ('0100', '2025-07-01', 'APIlogs', :sid, 'downloaded', 'test', "
                "CURRENT_TIMESTAMP)"
            ),
            [{"sid": 10_000_000 + i} for i in range(events // 10)],
        )
    result = _run(checks.rejected_share_under_threshold, db_url)
    assert not result.passed and result.metadata["rejected_share"].value > 0.05
    assert result.metadata["threshold"].value == 0.05
    relaxed = _run(checks.rejected_share_under_threshold, db_url, QualityThresholds(max_rejected_share=0.5))
    assert relaxed.passed and relaxed.metadata["threshold"].value == 0.5


def test_live_freshness(
    engine: Engine, db_url: str, resources: dict[str, object], logs_dir: Path
) -> None:
    add_enterprises(engine, *NUMBERS)
    never = _run(checks.live_freshness, db_url)
    assert not never.passed and never.metadata["stale"].value == {"0100": "never", "0200": "never"}

    today_files(logs_dir, *NUMBERS)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, list(NUMBERS))
    assert live_sync_job.execute_in_process(instance=instance, resources=resources).success
    assert _run(checks.live_freshness, db_url).passed
    tight = _run(checks.live_freshness, db_url, QualityThresholds(live_freshness_minutes=1e-6))
    assert not tight.passed and tight.metadata["max_age_minutes"].value == 1e-6

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE sync_runs SET finished_at = :old WHERE enterprise_id = '0200'"),
            {"old": "2020-01-01 00:00:00"},
        )
    stale = _run(checks.live_freshness, db_url)
    assert not stale.passed and list(stale.metadata["stale"].value) == ["0200"]
