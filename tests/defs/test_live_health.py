"""The live run's fleet health (SPEC §4.8): alerts to a real local webhook, once per change of
status and on recovery; a webhook that is down never fails the run and is retried."""
from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance
from sqlalchemy import Engine, text

from asterisk_pipeline.defs.live import live_sync_job
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from tests.support.defs import NUMBERS, add_enterprises, today_files
from tests.support.webhook import webhook_receiver

BROKEN = "0999"


@pytest.fixture
def alerting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds for a test that runs minutes, not hours: failing after 2 failed syncs; the
    day files' event times never make a PBX stale."""
    monkeypatch.setenv("ASTERISK_HEALTH_FAILING_AFTER", "2")
    monkeypatch.setenv("ASTERISK_HEALTH_STALE_EVENT_MINUTES", "100000")
    monkeypatch.setenv("ASTERISK_HEALTH_STALE_SYNC_MINUTES", "100000")


def _run(instance: DagsterInstance, resources: dict[str, object]) -> None:
    result = live_sync_job.execute_in_process(instance=instance, resources=resources, raise_on_error=False)
    assert result.success


def test_one_alert_per_change_and_one_on_recovery(
    engine: Engine, resources: dict[str, object], logs_dir: Path, alerting: None,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    today_files(logs_dir, *NUMBERS)
    add_enterprises(engine, *NUMBERS, BROKEN)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, [*NUMBERS, BROKEN])
    with webhook_receiver() as hook:
        monkeypatch.setenv("ASTERISK_ALERT_WEBHOOK_URL", hook.url)
        for _ in range(4):
            _run(instance, resources)
        assert [(a["enterprise"], a["old_status"], a["new_status"]) for a in hook.received] == [
            (BROKEN, "unknown", "failing")
        ]
        alert = hook.received[0]
        assert alert["consecutive_failures"] == 2 and alert["last_error"].startswith("missing_file: ")
        assert alert["since"] is not None and alert["last_successful_sync"] is None

        today_files(logs_dir, BROKEN)  # its file appears
        _run(instance, resources)
        _run(instance, resources)
        assert [(a["enterprise"], a["old_status"], a["new_status"]) for a in hook.received] == [
            (BROKEN, "unknown", "failing"), (BROKEN, "failing", "ok"),
        ]
    assert "secret-token-123" not in caplog.text


def test_a_webhook_that_is_down_is_retried_and_never_fails_the_run(
    engine: Engine, resources: dict[str, object], logs_dir: Path, alerting: None,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    today_files(logs_dir, *NUMBERS)
    add_enterprises(engine, *NUMBERS, BROKEN)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, [*NUMBERS, BROKEN])
    with webhook_receiver() as hook:
        monkeypatch.setenv("ASTERISK_ALERT_WEBHOOK_URL", hook.url)
        hook.fail = True
        for _ in range(3):
            _run(instance, resources)
        assert hook.received == []
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT status, delivered_at, attempts, last_attempt_error FROM fleet_alerts "
                f"WHERE enterprise_id = '{BROKEN}'")).one()
        assert row[0] == "failing" and row[1] is None and row[2] == 2 and row[3] == "HTTP 500"
        hook.fail = False
        _run(instance, resources)
        _run(instance, resources)
        assert [(a["enterprise"], a["new_status"]) for a in hook.received] == [(BROKEN, "failing")]
    assert "secret-token-123" not in caplog.text and "127.0.0.1" in caplog.text  # masked, not hidden
