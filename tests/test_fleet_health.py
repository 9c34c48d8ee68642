"""Fleet-health rules (SPEC §4.8), pure: each status, the threshold edges, working hours."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from asterisk_pipeline.fleet_health import (
    Evidence,
    HealthRules,
    WorkingHours,
    decide,
    local_day_start,
    worth_alerting,
)
from asterisk_pipeline.settings import Settings

MINSK = ZoneInfo("Europe/Minsk")
HOURS = WorkingHours(time(9), time(18))
RULES = HealthRules(stale_event_minutes=30, stale_sync_minutes=15, failing_after=3, working_hours=HOURS)
#: 12:00 in Minsk (UTC+3) on a weekday
NOON = datetime(2025, 7, 3, 12, 0, tzinfo=MINSK).astimezone(UTC)


def _healthy(**changes: object) -> Evidence:
    base = Evidence(enterprise="0327", timezone="Europe/Minsk", newest_event_at=NOON - timedelta(minutes=5),
                    last_success=NOON - timedelta(minutes=1))
    return Evidence(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_ok_when_syncing_and_events_arrive() -> None:
    health = decide(_healthy(), RULES, NOON)
    assert (health.status, health.reason) == ("ok", "syncing, events arriving")


def test_skipped_row_wins_over_everything() -> None:
    health = decide(_healthy(skipped_reason="number is empty", consecutive_failures=9), RULES, NOON)
    assert health.status == "skipped" and health.reason == "number is empty"


def test_unknown_when_never_synced() -> None:
    assert decide(Evidence("0327", "Europe/Minsk"), RULES, NOON).status == "unknown"


@pytest.mark.parametrize(("failures", "status"), [(2, "unknown"), (3, "failing"), (4, "failing")])
def test_failing_after_n_consecutive_failures_of_a_never_synced_pbx(failures: int, status: str) -> None:
    evidence = Evidence("0327", "Europe/Minsk", consecutive_failures=failures, last_failure=NOON)
    assert decide(evidence, RULES, NOON).status == status


@pytest.mark.parametrize(("failures", "status"), [(2, "ok"), (3, "failing")])
def test_failing_edge_after_earlier_success(failures: int, status: str) -> None:
    health = decide(_healthy(consecutive_failures=failures), RULES, NOON)
    assert health.status == status
    if status == "failing":
        assert "3" in health.reason


@pytest.mark.parametrize(("age", "status"), [(15, "ok"), (15.02, "stale"), (60, "stale")])
def test_stale_sync_threshold_edge(age: float, status: str) -> None:
    health = decide(_healthy(last_success=NOON - timedelta(minutes=age)), RULES, NOON)
    assert health.status == status


@pytest.mark.parametrize(("silent", "status"), [(30, "ok"), (31, "stale")])
def test_stale_event_threshold_edge_in_working_hours(silent: int, status: str) -> None:
    health = decide(_healthy(newest_event_at=NOON - timedelta(minutes=silent)), RULES, NOON)
    assert health.status == status


def test_silence_outside_working_hours_is_not_stale() -> None:
    night = datetime(2025, 7, 3, 23, 0, tzinfo=MINSK).astimezone(UTC)
    evening_event = datetime(2025, 7, 3, 17, 50, tzinfo=MINSK).astimezone(UTC)
    evidence = _healthy(newest_event_at=evening_event, last_success=night - timedelta(minutes=1))
    assert decide(evidence, RULES, night).status == "ok"  # 10 working minutes of silence


def test_silence_counts_working_minutes_across_the_night() -> None:
    morning = datetime(2025, 7, 4, 9, 25, tzinfo=MINSK).astimezone(UTC)
    evening_event = datetime(2025, 7, 3, 17, 50, tzinfo=MINSK).astimezone(UTC)
    evidence = _healthy(newest_event_at=evening_event, last_success=morning - timedelta(minutes=1))
    # 17:50→18:00 is 10 working minutes, 09:00→09:25 another 25: 35 > 30 (the night is free)
    assert HOURS.minutes_between(evening_event, morning, MINSK, 1000) == pytest.approx(35)
    assert decide(evidence, RULES, morning).status == "stale"
    earlier = datetime(2025, 7, 4, 9, 15, tzinfo=MINSK).astimezone(UTC)
    assert decide(_healthy(newest_event_at=evening_event, last_success=earlier), RULES, earlier).status == "ok"


def test_working_hours_are_the_pbx_local_hours() -> None:
    moscow_noon = datetime(2025, 7, 3, 8, 30, tzinfo=UTC)  # 11:30 in Minsk, 08:30 in UTC
    evidence = _healthy(newest_event_at=moscow_noon - timedelta(hours=2),
                        last_success=moscow_noon - timedelta(minutes=1))
    assert decide(evidence, RULES, moscow_noon).status == "stale"  # Minsk 09:00-11:30: 150 min
    utc = Evidence(**{**evidence.__dict__, "timezone": "UTC"})
    assert decide(utc, RULES, moscow_noon).status == "ok"  # UTC: 06:30-08:30, before 09:00


def test_no_event_ever_is_stale_only_in_working_hours() -> None:
    assert decide(_healthy(newest_event_at=None), RULES, NOON).status == "stale"
    night = datetime(2025, 7, 3, 2, 0, tzinfo=MINSK).astimezone(UTC)
    assert decide(_healthy(newest_event_at=None, last_success=night), RULES, night).status == "ok"


def test_around_the_clock_hours() -> None:
    always = WorkingHours.parse("00:00-00:00")
    start = datetime(2025, 7, 3, 20, 0, tzinfo=UTC)
    assert always.minutes_between(start, start + timedelta(hours=10), MINSK, 10_000) == pytest.approx(600)
    assert WorkingHours.parse("08:00-24:00").minutes_between(start, start + timedelta(hours=1), UTC, 999) == 60


@pytest.mark.parametrize("text", ["9-18", "18:00-09:00", "09:00", "25:00-26:00", ""])
def test_bad_working_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="working hours"):
        WorkingHours.parse(text)
    with pytest.raises(ValueError, match="ASTERISK_HEALTH_WORKING_HOURS"):
        Settings(health_working_hours=text)


def test_rejected_share_and_day_start() -> None:
    assert _healthy(rows_today=200, rejected_today=10).rejected_share_today == 0.05
    assert _healthy().rejected_share_today is None
    assert local_day_start(NOON, MINSK) == datetime(2025, 7, 2, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(("old", "new", "alert"), [
    (None, "ok", False), ("unknown", "ok", False), (None, "unknown", False),
    (None, "failing", True), ("unknown", "failing", True), ("ok", "stale", True),
    ("failing", "ok", True), ("stale", "failing", True), ("failing", "failing", False),
    ("ok", "skipped", False),
])
def test_which_changes_are_worth_an_alert(old: str | None, new: str, alert: bool) -> None:
    assert worth_alerting(old, new) is alert
