"""The sidecar in-process (FastAPI TestClient) on both databases: auth, health rules, answers
from the warehouse, and what happens when the database or Dagster is down."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from asterisk_pipeline.api.app import create_app
from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from tests.support.api import NOWHERE, SECRET


def _client(db_url: str, tmp_path: Path, **overrides: object) -> TestClient:
    settings = Settings(home=tmp_path, database_url=db_url, dagster_url=NOWHERE, **overrides)
    return TestClient(create_app(settings, DagsterClient(NOWHERE, timeout_s=2)))


def test_answers_from_the_warehouse(filled: str, engine: Engine, tmp_path: Path) -> None:
    with _client(filled, tmp_path) as api:
        status = api.get("/sync/live/status").json()
        with engine.connect() as conn:
            truth = dict(conn.execute(text("SELECT data_source, count(*) FROM calls GROUP BY 1")).all())
        assert {d["data_source"]: d["total_calls"] for d in status["data_sources"]} == truth
        assert {(b["enterprise_id"], b["data_source"]) for b in status["enterprise_breakdown"]} == {
            ("0327", source) for source in truth}
        rows = api.get("/sync/status").json()
        assert [r["enterprise_id"] for r in rows["sync_status"]] == ["0327"]
        assert rows["sync_status"][0]["total_downloaded"] > 0 and rows["running"] is None
        assert "unreachable" in rows["dagster"]
        listed = api.get("/enterprises").json()
        assert listed["count"] == 1 and listed["enterprises"][0]["secret"] == "********"
        for path in ("/", "/enterprises", "/sync/status", "/sync/live/status", "/metrics", "/health"):
            assert SECRET not in api.get(path).text


def test_status_follows_a_new_import_immediately(filled: str, engine: Engine, tmp_path: Path) -> None:
    with _client(filled, tmp_path) as api:
        before = api.get("/sync/live/status").json()["data_sources"]
        vos = Enterprise("0327", "VOS", "vos.lan", SECRET, "10.0.0.1", token_for("0327"))
        day = date(2025, 7, 4)
        path = write_day_file(tmp_path / f"Listen_AMI_{day}.db", token=token_for("0327"), day=day,
                              calls=5, seed=9, dirty_share=0.0, start_id=10**7).path
        assert import_day_file(engine, Fleet.load(Settings(home=tmp_path)), vos, LocalDayFile(path, Flow.HISTORY, day)).ok
        after = api.get("/sync/live/status").json()["data_sources"]
        total = lambda rows: sum(r["total_calls"] for r in rows)
        assert total(after) == total(before) + 5


def test_mutating_endpoints_need_the_token_when_one_is_set(filled: str, tmp_path: Path) -> None:
    with _client(filled, tmp_path, api_token="t0k3n-abc") as api:
        missing = api.post("/sync/live/0327")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert api.post("/sync/0327", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        passed = api.post("/sync/live/0327", headers={"Authorization": "Bearer t0k3n-abc"})
        assert passed.status_code == 503 and "unreachable" in passed.json()["detail"]  # past auth, Dagster down
        assert api.get("/sync/live/status").status_code == 200  # reads need no token
        assert "t0k3n-abc" not in passed.text


def test_inactive_enterprise_is_404(filled: str, tmp_path: Path) -> None:
    with _client(filled, tmp_path) as api:
        assert api.post("/sync/live/0100").status_code == 404
        assert api.post("/sync/0100", json={}).status_code == 404


def _live_run(engine: Engine, finished: datetime) -> None:
    with write_transaction(engine) as conn:
        conn.execute(text(
            "INSERT INTO sync_runs (enterprise_id, flow, started_at, finished_at, duration_s, status)"
            " VALUES ('0327', 'live', :at, :at, 0.1, 'success')"), {"at": finished})


def test_health_needs_a_recent_live_sync(filled: str, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sync_runs WHERE flow = 'live'"))
    with _client(filled, tmp_path, health_max_live_age_minutes=15) as api:
        first = api.get("/health")
        assert first.status_code == 503 and first.json()["reason"] == "no successful live sync yet"
        _live_run(engine, datetime.now(UTC) - timedelta(minutes=20))
        old = api.get("/health")
        assert old.status_code == 503 and "min old" in old.json()["reason"]
        assert old.json()["stale_enterprises"] == ["0327"]
        _live_run(engine, datetime.now(UTC) - timedelta(seconds=30))
        fresh = api.get("/health")
        assert fresh.status_code == 200 and fresh.json()["status"] == "healthy"
        assert 25 < fresh.json()["last_live_sync_age_s"] < 120


def test_database_down_is_503_with_a_reason(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/asterisk_no_such_database"
    with _client(url, tmp_path) as api:
        health = api.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
        assert api.get("/sync/live/status").status_code == 503
        assert api.post("/sync/live/0327").json()["detail"] == "central database unavailable"
