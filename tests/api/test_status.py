"""The status answers (api/status.py) without HTTP: what is counted and listed, on a real
warehouse (``filled``: 0327's day imported by both flows) and on Dagster's run records."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from asterisk_pipeline.api import queries, status
from asterisk_pipeline.api.dagster_client import BackfillInfo, RunInfo
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.names import (
    ALL_ENTERPRISES,
    FLOW_CHECKS,
    FLOW_HISTORY,
    FLOW_LIVE,
    TAG_ENTERPRISES,
    TAG_FLOW,
)
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from tests.support.api import FILLED_CALLS, FILLED_DAY, SECRET

ZONE = ZoneInfo(Settings().pbx_timezone)  # the zone the day file was written and imported in


def test_live_status_counts_every_call_per_source_and_enterprise(filled: str, engine: Engine) -> None:
    with engine.connect() as conn:
        answer = status.live_status(conn, auto_sync_interval=5)
        truth = dict(conn.execute(text("SELECT data_source, count(*) FROM calls GROUP BY 1")).all())
        live_syncs = conn.execute(text(
            "SELECT count(*) FROM sync_runs WHERE flow = 'live' AND status = 'success'")).scalar_one()
    assert {d.data_source: d.total_calls for d in answer.data_sources} == truth
    assert sum(truth.values()) == FILLED_CALLS  # each conversation stored once, by the first flow
    assert {(b.enterprise_id, b.data_source): b.count for b in answer.enterprise_breakdown} == {
        ("0327", source): count for source, count in truth.items()}
    assert all(d.first_call and d.first_call.tzinfo is not None for d in answer.data_sources)
    assert answer.auto_sync_interval == 5
    assert live_syncs == 1 and answer.last_live_sync is not None
    assert datetime.now(UTC) - answer.last_live_sync < timedelta(minutes=5)


def test_today_counts_the_live_calls_of_that_pbx_day_only(filled: str, engine: Engine, tmp_path: Path) -> None:
    """``filled``'s day was stored by the history flow first (no live call); the next day's
    file comes in by the live flow alone."""
    vos = Enterprise("0327", "VOS", "vos.lan", SECRET, "10.0.0.1", token_for("0327"))
    day = FILLED_DAY + timedelta(days=1)
    path = write_day_file(tmp_path / f"Listen_AMI_{day}.db", token=token_for("0327"), day=day, calls=7,
                          seed=11, dirty_share=0.0, start_id=10**7, live_share_undelivered=1.0).path
    assert import_day_file(engine, Fleet.load(Settings(home=tmp_path)), vos, LocalDayFile(path, Flow.LIVE, day)).ok
    with engine.connect() as conn:
        live = conn.execute(text("SELECT count(*) FROM calls WHERE data_source = 'live'")).scalar_one()
        counted = {d: status.today_inputs(conn, d, ZONE) for d in (FILLED_DAY, day, day + timedelta(days=1))}
    assert live == 7
    assert counted[day] == (["0327"], {"0327": 7})  # 0100 is inactive: not listed
    assert counted[FILLED_DAY] == counted[day + timedelta(days=1)] == (["0327"], {})


def test_today_lists_active_enterprises_with_zero_and_keeps_inactive_ones_with_calls() -> None:
    answer = status.live_today(date(2025, 7, 3), ZONE, active=["0327", "0100"], counts={"0327": 4, "0999": 2})
    assert [(r.enterprise_id, r.count) for r in answer.by_enterprise] == [("0100", 0), ("0327", 4), ("0999", 2)]
    assert answer.live_calls == 6 and answer.timezone == str(ZONE) and answer.date == date(2025, 7, 3)


def test_sync_status_keeps_the_download_sync_rows_and_says_when_dagster_is_unknown(
        filled: str, engine: Engine) -> None:
    with engine.connect() as conn:
        rows = queries.download_sync_rows(conn)
    answer = status.sync_status(rows, None, "Dagster webserver at http://x unreachable: ConnectError")
    assert [(r.enterprise_id, r.status) for r in answer.sync_status] == [("0327", "ok")]
    assert answer.sync_status[0].total_downloaded > 0 and answer.running is None
    assert "unreachable" in answer.dagster


def _run(run_id: str, tags: dict[str, str]) -> RunInfo:
    return RunInfo(run_id=run_id, status="STARTED", tags=tags)


def test_running_syncs_are_our_tagged_runs_and_requested_backfills_not_checks_or_others() -> None:
    runs = [
        _run("live-1", {TAG_FLOW: FLOW_LIVE, TAG_ENTERPRISES: "0327"}),
        _run("fill-run", {TAG_FLOW: FLOW_HISTORY, "dagster/backfill": "bf1", TAG_ENTERPRISES: "0100,0327"}),
        _run("schedule", {"dagster/backfill": "bf0"}),  # a backfill's run without our tags
        _run("checks", {TAG_FLOW: FLOW_CHECKS}),  # the warehouse checks: no sync
        _run("someone-else", {"owner": "ui"}),
    ]
    backfills = [BackfillInfo("bf1", "REQUESTED", {TAG_FLOW: FLOW_HISTORY}, []),
                 BackfillInfo("bf9", "REQUESTED", {}, [])]
    found = status.running_syncs(runs, backfills, lambda r: f"ui/runs/{r}", lambda b: f"ui/backfill/{b}")
    assert [(s.kind, s.id, s.flow, s.enterprises, s.dagster_url) for s in found] == [
        ("run", "live-1", FLOW_LIVE, "0327", "ui/runs/live-1"),
        ("backfill run", "fill-run", FLOW_HISTORY, "0100,0327", "ui/runs/fill-run"),
        ("backfill run", "schedule", None, ALL_ENTERPRISES, "ui/runs/schedule"),
        ("backfill", "bf1", FLOW_HISTORY, ALL_ENTERPRISES, "ui/backfill/bf1"),
    ]


def test_newest_ignores_enterprises_never_synced() -> None:
    moment = datetime(2025, 7, 3, tzinfo=UTC)
    assert status.newest({"a": None, "b": moment, "c": moment - timedelta(days=1)}) == moment
    assert status.newest({"a": None}) is None
