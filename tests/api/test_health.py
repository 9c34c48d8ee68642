"""/health's rules as plain functions (api/health.py), without HTTP: on data, and on a real
warehouse."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from asterisk_pipeline.api import health
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
LIMIT_S = 15 * 60


def test_a_recent_live_sync_is_healthy_and_old_or_missing_enterprises_are_listed_as_stale() -> None:
    report = health.assess({"0100": NOW - timedelta(minutes=2), "0200": NOW - timedelta(hours=3),
                            "0327": None}, NOW, LIMIT_S)
    assert (report.status, report.reason, health.status_code(report)) == ("healthy", None, 200)
    assert report.last_live_sync == NOW - timedelta(minutes=2) and report.last_live_sync_age_s == 120.0
    assert report.stale_enterprises == ["0200", "0327"] and report.active_enterprises == 3


def test_the_newest_live_sync_too_old_is_unhealthy_and_says_how_old() -> None:
    report = health.assess({"0327": NOW - timedelta(minutes=20)}, NOW, LIMIT_S)
    assert report.status == "unhealthy" and health.status_code(report) == 503
    assert report.reason == "last successful live sync is 20.0 min old (limit 15 min)"
    assert report.stale_enterprises == ["0327"]


def test_exactly_at_the_limit_is_still_healthy() -> None:
    report = health.assess({"0327": NOW - timedelta(seconds=LIMIT_S)}, NOW, LIMIT_S)
    assert report.status == "healthy" and report.stale_enterprises == []


def test_no_live_sync_ever_is_unhealthy_but_no_enterprise_at_all_is_healthy() -> None:
    never = health.assess({"0100": None, "0327": None}, NOW, LIMIT_S)
    assert never.reason == "no successful live sync yet" and never.last_live_sync_age_s is None
    empty = health.assess({}, NOW, LIMIT_S)
    assert (empty.status, empty.active_enterprises, empty.stale_enterprises) == ("healthy", 0, [])


def test_a_database_that_does_not_answer_names_the_error_type_only() -> None:
    error = OperationalError("SELECT 1", {}, Exception("connection to host secret-db.lan refused"))
    report = health.database_down(error, LIMIT_S)
    assert (report.status, report.database, report.active_enterprises) == ("unhealthy", "unavailable", None)
    assert report.reason == "central database unavailable (OperationalError)"
    assert "secret-db" not in report.model_dump_json()


def _live_run(engine: Engine, number: str, finished: datetime, status: str = "success") -> None:
    with write_transaction(engine) as conn:
        conn.execute(text(
            "INSERT INTO sync_runs (enterprise_id, flow, started_at, finished_at, duration_s, status)"
            " VALUES (:n, 'live', :at, :at, 0.1, :status)"), {"n": number, "at": finished, "status": status})


def test_check_reads_each_active_enterprises_last_successful_live_sync(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        for number in ("0100", "0327"):
            upsert_enterprise(conn, Enterprise(number, "PBX", f"{number}.lan", None, None, None))
        upsert_enterprise(conn, Enterprise("0999", "Old", "old.lan", None, None, None), active=False)
    now = datetime.now(UTC)
    _live_run(engine, "0327", now - timedelta(minutes=1))
    _live_run(engine, "0327", now - timedelta(seconds=5), status="failed")  # a failure is no sync
    _live_run(engine, "0999", now)  # inactive: not counted
    with engine.connect() as conn:
        report = health.check(conn, now, LIMIT_S)
    assert report.status == "healthy" and report.active_enterprises == 2
    assert report.stale_enterprises == ["0100"]
    assert report.last_live_sync is not None and 55 <= report.last_live_sync_age_s <= 65  # type: ignore[operator]


def test_check_raises_when_the_database_does_not_answer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/missing-dir/central.db")
    try:
        with pytest.raises(OperationalError), engine.connect() as conn:
            health.check(conn, NOW, LIMIT_S)
    finally:
        engine.dispose()
