"""Alerts (SPEC §4.8) against a real local webhook, on both databases: two senders at once send
one change once; an unreachable webhook is recorded and retried, never raised."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine

from asterisk_pipeline.fleet_health import Evidence, Health
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync.alerts import AlertReport, alert_payload, masked_webhook, send_alerts
from asterisk_pipeline.warehouse.fleet_alerts import alert_states
from tests.support.dagster_dev import free_port
from tests.support.webhook import webhook_receiver

FAILING = Health(Evidence("0300", "Europe/Minsk", consecutive_failures=3, last_error_kind="missing_file",
                          last_error="no file", failing_since=datetime(2025, 7, 3, 6, 0, tzinfo=UTC)),
                 "failing", "the last 3 live syncs failed")


def test_two_senders_at_once_send_one_alert(engine: Engine) -> None:
    with webhook_receiver() as hook:
        settings = Settings(alert_webhook_url=hook.url)
        start = threading.Barrier(2)
        reports: list[AlertReport] = []

        def sender() -> None:
            start.wait()
            reports.append(send_alerts(engine, [FAILING], settings))

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(hook.received) == 1 and sorted(len(r.sent) for r in reports) == [0, 1]
        assert hook.received[0]["since"] == "2025-07-03T06:00:00+00:00"
        assert hook.received[0]["last_error"] == "missing_file: no file"
        send_alerts(engine, [FAILING], settings)  # the same status next cycle: nothing
        assert len(hook.received) == 1


def test_an_unreachable_webhook_is_recorded_and_retried(engine: Engine) -> None:
    down = Settings(alert_webhook_url=f"http://127.0.0.1:{free_port()}/hook/token-abc", alert_webhook_timeout_s=2)
    report = send_alerts(engine, [FAILING], down)
    assert report.failed == ["0300"] and report.sent == []
    with engine.connect() as conn:
        state = alert_states(conn)["0300"]
    assert state.delivered_at is None and state.attempts == 1 and state.last_attempt_error == "ConnectError"
    with webhook_receiver() as hook:
        retried = send_alerts(engine, [FAILING], Settings(alert_webhook_url=hook.url))
        assert retried.sent == ["0300"] and [a["old_status"] for a in hook.received] == [None]


def test_payload_and_masking() -> None:
    payload = alert_payload(FAILING, "ok", datetime(2025, 7, 3, 6, 20, tzinfo=UTC))
    assert set(payload) == {"enterprise", "old_status", "new_status", "since", "reason", "last_error",
                            "consecutive_failures", "last_successful_sync", "newest_event_at", "sent_at"}
    assert masked_webhook("https://hooks.example.com/services/T0/B0/secret?token=x") == "https://hooks.example.com/…"
    assert masked_webhook("http://user:pw@127.0.0.1:8080/x") == "http://127.0.0.1:8080/…"
