"""Fleet-health evidence (SPEC §4.8) from a warehouse built by real live cycles, on both databases;
the alert claims that keep two senders from sending one change twice."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import live_cycle
from asterisk_pipeline.sync.health import fleet_health, health_record
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.fleet_alerts import (
    Change,
    alert_states,
    claim_change,
    claim_retry,
    settle,
)
from asterisk_pipeline.warehouse.fleet_health import record_clock
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.snapshot import count

MINSK = ZoneInfo("Europe/Minsk")
DAY = date(2025, 7, 3)
NOON = datetime(2025, 7, 3, 12, 0, tzinfo=MINSK).astimezone(UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    root = tmp_path / "logs"
    for index, number in enumerate(("0100", "0200")):
        write_day_file(day_file_path(root, number, DAY), token=token_for(number), day=DAY,
                       calls=30, seed=4, start_id=index * 10_000, dirty_share=0.05)
    (root / "0300").mkdir(parents=True)  # a PBX whose directory holds no file
    return Settings(home=tmp_path / "home", transport="local", local_logs_dir=root,
                    health_failing_after=3, health_stale_sync_minutes=15, health_stale_event_minutes=600)


def _add(engine: Engine, *numbers: str) -> None:
    with write_transaction(engine) as conn:
        for number in numbers:
            upsert_enterprise(conn, Enterprise(number, f"E{number}", f"pbx{number}.lan", "s", None, token_for(number)))


def test_evidence_from_real_live_cycles(engine: Engine, settings: Settings) -> None:
    _add(engine, "0100", "0200", "0300", "0400")
    with engine.begin() as conn:  # a platform row whose number is unsafe (SPEC §3)
        conn.execute(text("INSERT INTO enterprises (number, is_enabled, active) VALUES ('../x', true, true)"))
    fleet = Fleet.load(settings)
    _add_only_cycles(engine, fleet, numbers=["0100", "0200", "0300"], cycles=3)
    record_clock_now(engine, "0200", -4.5)

    with engine.connect() as conn:
        healths = {h.evidence.enterprise: h for h in fleet_health(conn, fleet, NOON + timedelta(minutes=3))}
    assert list(healths) == ["0100", "0200", "0300", "0400", "'../x'"]
    ok = healths["0100"].evidence
    assert healths["0100"].status == "ok"
    newest = engine.connect().execute(text(
        "SELECT max(event_timestamp) FROM call_events WHERE enterprise_id = '0100'")).scalar_one()
    assert ok.newest_event_at is not None and ok.newest_event_at.replace(tzinfo=None) == _naive(newest)
    assert ok.consecutive_failures == 0 and ok.last_success is not None and ok.last_failure is None
    rows, rejected = engine.connect().execute(text(
        "SELECT sum(rows_read), sum(rejected) FROM sync_runs WHERE enterprise_id = '0100' AND flow = 'live'"
    )).one()
    assert (ok.rows_today, ok.rejected_today) == (rows, rejected) and rejected > 0
    assert healths["0200"].evidence.clock_offset_s == -4.5 and ok.clock_offset_s is None

    bad = healths["0300"]
    failed_runs = count(engine, "sync_runs", "enterprise_id = '0300' AND status = 'failed'")
    assert bad.status == "failing" and bad.evidence.consecutive_failures == failed_runs >= 3
    assert bad.evidence.last_error_kind == "missing_file" and bad.evidence.last_success is None
    assert bad.evidence.failing_since is not None and bad.evidence.failing_since <= bad.evidence.last_failure  # type: ignore[operator]
    assert healths["0400"].status == "unknown"  # active, never synced
    assert healths["'../x'"].status == "skipped"
    record = health_record(bad)
    assert record["status"] == "failing" and record["last_error_kind"] == "missing_file"


def test_a_success_ends_the_failure_streak(engine: Engine, settings: Settings) -> None:
    _add(engine, "0300")
    fleet = Fleet.load(settings)
    _add_only_cycles(engine, fleet, numbers=["0300"], cycles=3)
    assert settings.local_logs_dir is not None
    write_day_file(day_file_path(settings.local_logs_dir, "0300", DAY), token=token_for("0300"), day=DAY,
                   calls=5, seed=2, start_id=50_000)
    _add_only_cycles(engine, fleet, numbers=["0300"], cycles=1, first=3)
    with engine.connect() as conn:
        health = fleet_health(conn, fleet, NOON + timedelta(minutes=4))[0]
    assert health.status == "ok" and health.evidence.consecutive_failures == 0
    assert health.evidence.last_failure is not None and health.evidence.last_error_kind == "missing_file"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # EXPLAIN plans are PostgreSQL's
def test_the_health_reads_are_index_backed_on_postgresql(engine: Engine, settings: Settings) -> None:
    from asterisk_pipeline.warehouse.fleet_health import evidence_query

    _add(engine, "0100")
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        sql = str(evidence_query().compile(engine, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))
    assert "Seq Scan on sync_runs" not in plan and "Seq Scan on event_sightings" not in plan, plan
    assert "Seq Scan on call_events" not in plan, plan


def test_two_senders_claim_one_change_once(engine: Engine) -> None:
    now = datetime.now(UTC)
    change = Change("0327", None, "failing", now)
    with write_transaction(engine) as conn:
        assert claim_change(conn, change, "a", now)
    with write_transaction(engine) as conn:
        assert not claim_change(conn, change, "b", now)  # the same first sight, seen by a second run
    moved = Change("0327", "failing", "ok", now)
    with write_transaction(engine) as conn:
        assert claim_change(conn, moved, "b", now)
    with write_transaction(engine) as conn:
        assert not claim_change(conn, moved, "c", now)  # already 'ok': nothing to claim
    with write_transaction(engine) as conn:  # the send failed: released, retried by one claimer
        settle(conn, "0327", "b", now, "HTTP 500")
        assert claim_retry(conn, "0327", "ok", "c", now)
        assert not claim_retry(conn, "0327", "ok", "d", now)
        settle(conn, "0327", "c", now, None)
        assert not claim_retry(conn, "0327", "ok", "e", now + timedelta(hours=1))  # delivered
    with engine.connect() as conn:
        state = alert_states(conn)["0327"]
    assert (state.status, state.old_status, state.attempts) == ("ok", "failing", 1)
    assert state.delivered_at is not None


def _add_only_cycles(engine: Engine, fleet: Fleet, *, numbers: list[str], cycles: int, first: int = 0) -> None:
    """``cycles`` live cycles a minute apart from NOON + ``first`` minutes (the runs' clock)."""
    for k in range(cycles):
        live_cycle(engine, fleet, numbers=numbers, now=NOON + timedelta(minutes=first + k))


def record_clock_now(engine: Engine, number: str, offset: float) -> None:
    with write_transaction(engine) as conn:
        record_clock(conn, number, offset, datetime.now(UTC))


def _naive(value: object) -> datetime:
    """A max() read through text(): PostgreSQL gives an aware datetime, SQLite its stored text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)
