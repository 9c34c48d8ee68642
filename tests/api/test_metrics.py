"""/metrics text (pure): counters mean what their names say (issue 22: failed syncs apart from
rejected rows), and the fleet-health gauges per enterprise."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from asterisk_pipeline.api.metrics import SyncState, render_metrics
from asterisk_pipeline.fleet_health import Evidence, Health

NOW = datetime(2025, 7, 3, 9, 0, tzinfo=UTC)


def _series(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_failed_syncs_and_rejected_rows_are_two_counters() -> None:
    state = SyncState(
        sync_counts=[("0100", "live", "success", 40), ("0300", "live", "failed", 5), ("0300", "history", "failed", 1)],
        download_sync=[
            {"enterprise_id": "0100", "total_downloaded": 5000, "failed_events": 167, "status": "ok"},
            {"enterprise_id": "0300", "total_downloaded": 0, "failed_events": 0, "status": "failing"},
        ],
        last_live={"0100": NOW, "0300": None}, last_history={}, breakdown=[],
        health=[
            Health(Evidence("0100", newest_event_at=NOW - timedelta(seconds=42)), "ok", "syncing"),
            Health(Evidence("0300", consecutive_failures=5), "failing", "the last 5 live syncs failed"),
            Health(Evidence("'../x'", skipped_reason="bad"), "skipped", "bad"),
        ],
    )
    series = _series(render_metrics(state, NOW))
    failures = {k: v for k, v in series.items() if k.startswith("asterisk_sync_failures_total")}
    assert failures == {'asterisk_sync_failures_total{enterprise="0300",flow="history"}': 1,
                        'asterisk_sync_failures_total{enterprise="0300",flow="live"}': 5}
    assert series['asterisk_rows_rejected_total{enterprise="0100"}'] == 167
    assert series['asterisk_rows_rejected_total{enterprise="0300"}'] == 0
    assert series['asterisk_enterprise_status{enterprise="0300",status="failing"}'] == 1
    assert series['asterisk_enterprise_status{enterprise="0300",status="ok"}'] == 0
    assert series['asterisk_enterprise_status{enterprise="0100",status="ok"}'] == 1
    assert series['asterisk_enterprise_event_lag_seconds{enterprise="0100"}'] == 42
    assert series['asterisk_enterprise_event_lag_seconds{enterprise="0300"}'] == -1
    assert series['asterisk_enterprise_consecutive_failures{enterprise="0300"}'] == 5
    assert series["asterisk_enterprises_skipped"] == 1
    assert not any("../x" in k for k in series)
