"""Fleet syncs through the local-directory transport: live window, registry changes, isolation."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.devtools.live import append_calls
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.fleet import Fleet, FleetConfigError, load_fleet_file
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import SyncRun, live_cycle, sync_history_range
from asterisk_pipeline.sync.cycles import live_days
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from asterisk_pipeline.warehouse.stats import DayRange
from tests.support.snapshot import count

MINSK = ZoneInfo("Europe/Minsk")
DAY = date(2025, 7, 3)
NOON = datetime(2025, 7, 3, 12, 0, tzinfo=MINSK)


def _enterprise(number: str) -> Enterprise:
    return Enterprise(number, f"E{number}", f"pbx{number}.lan", f"secret-{number}", None, token_for(number))


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    for index, number in enumerate(("0100", "0200", "0327")):
        write_day_file(day_file_path(root, number, DAY), token=token_for(number), day=DAY,
                       calls=40, seed=3, start_id=index * 10_000)
    return root


@pytest.fixture
def local_settings(tmp_path: Path, fleet_dir: Path) -> Settings:
    return Settings(home=tmp_path / "home", transport="local", local_logs_dir=fleet_dir)


def _add(engine: Engine, *numbers: str, active: bool = True) -> None:
    with write_transaction(engine) as conn:
        for number in numbers:
            upsert_enterprise(conn, _enterprise(number), is_enabled=active, active=active)


def test_live_cycle_imports_then_only_new_rows(engine: Engine, local_settings: Settings, fleet_dir: Path):
    _add(engine, "0100", "0200", "0327")
    first = live_cycle(engine, Fleet.load(local_settings), now=NOON)
    today = [o for o in first.outcomes if o.file_date == DAY.isoformat()]
    assert len(today) == 3 and all(o.ok for o in today)
    assert all(o.rows_read > 100 and o.new_events > 0 for o in today)
    calls_after_first = count(engine, "calls", "data_source = 'live'")
    assert calls_after_first > 0

    again = live_cycle(engine, Fleet.load(local_settings), now=NOON)
    assert all(o.rows_read == 0 for o in again.outcomes if o.file_date == DAY.isoformat())

    path = day_file_path(fleet_dir, "0327", DAY)
    added = append_calls(path, token=token_for("0327"), day=DAY, calls=5, seed=9,
                         tables=("AlternativeAPIlogs",), live_share_undelivered=1.0)
    third = live_cycle(engine, Fleet.load(local_settings), now=NOON, numbers=["0327"])
    outcome = next(o for o in third.outcomes if o.file_date == DAY.isoformat())
    assert outcome.rows_read == int(added) and outcome.new_calls == 5
    assert count(engine, "calls", "data_source = 'live'") == calls_after_first + 5


def test_registry_changes_apply_on_the_next_cycle(engine: Engine, local_settings: Settings):
    _add(engine, "0100")
    report = live_cycle(engine, Fleet.load(local_settings), now=NOON)
    assert {o.enterprise for o in report.outcomes} == {"0100"}
    _add(engine, "0200")
    _add(engine, "0100", active=False)
    report = live_cycle(engine, Fleet.load(local_settings), now=NOON)
    assert {o.enterprise for o in report.outcomes} == {"0200"}


def test_a_failing_enterprise_does_not_stop_the_others(engine: Engine, local_settings: Settings):
    _add(engine, "0100", "0999", "0327")  # 0999 has no log directory
    report = live_cycle(engine, Fleet.load(local_settings), now=NOON)
    by_enterprise = {o.enterprise: o for o in report.outcomes if o.file_date == DAY.isoformat()}
    assert by_enterprise["0100"].ok and by_enterprise["0327"].ok
    assert not by_enterprise["0999"].ok and by_enterprise["0999"].error_kind == "missing_file"
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT last_failed_sync IS NOT NULL, last_successful_sync IS NULL, last_error_message"
            " FROM download_sync WHERE enterprise_id = '0999'")).one()
    assert row[0] and row[1] and "does not exist" in row[2]


def test_live_window_reads_yesterday_until_finished_after_midnight(engine: Engine, local_settings: Settings, fleet_dir: Path):
    _add(engine, "0327")
    fleet = Fleet.load(local_settings)
    ent = _enterprise("0327")
    just_after_midnight = datetime(2025, 7, 4, 0, 1, tzinfo=MINSK)
    assert live_days(just_after_midnight, fleet.pbx(ent), engine) == [DAY, DAY + timedelta(days=1)]
    write_day_file(day_file_path(fleet_dir, "0327", DAY + timedelta(days=1)), token=token_for("0327"),
                   day=DAY + timedelta(days=1), calls=5, seed=4, start_id=50_000)
    # a cycle inside the grace period does not finish yesterday
    live_cycle(engine, Fleet.load(local_settings), now=just_after_midnight)
    assert live_days(just_after_midnight, fleet.pbx(ent), engine) == [DAY, DAY + timedelta(days=1)]
    later = datetime(2025, 7, 4, 0, 10, tzinfo=MINSK)
    report = live_cycle(engine, Fleet.load(local_settings), now=later)
    assert {o.file_date for o in report.outcomes} == {"2025-07-03", "2025-07-04"}
    # ... one that started after midnight + grace does
    assert live_days(later, fleet.pbx(ent), engine) == [DAY + timedelta(days=1)]


def test_per_enterprise_time_zone_decides_today(engine: Engine, local_settings: Settings, tmp_path: Path):
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('[enterprises."0327"]\ntimezone = "Asia/Tokyo"\n')
    settings = local_settings.model_copy(update={"fleet_file": fleet_file})
    fleet = Fleet.load(settings)
    utc_evening = datetime(2025, 7, 3, 20, 0, tzinfo=UTC)  # 23:00 Minsk, 05:00 Tokyo next day
    assert live_days(utc_evening, fleet.pbx(_enterprise("0327")), engine)[-1] == date(2025, 7, 4)
    assert live_days(utc_evening, fleet.pbx(_enterprise("0100")), engine)[-1] == date(2025, 7, 3)


def test_history_range_imports_each_day_once(engine: Engine, local_settings: Settings, fleet_dir: Path):
    _add(engine, "0327")
    for offset in (1, 2):
        day = DAY - timedelta(days=offset)
        write_day_file(day_file_path(fleet_dir, "0327", day), token=token_for("0327"), day=day,
                       calls=20, seed=5, start_id=100_000 * offset)
    fleet = Fleet.load(local_settings)
    outcomes = sync_history_range(engine, fleet, _enterprise("0327"), DayRange(DAY - timedelta(days=5), DAY))
    assert [o.file_date for o in outcomes] == ["2025-07-01", "2025-07-02", "2025-07-03"]
    assert all(o.ok and o.new_calls > 0 for o in outcomes)
    again = sync_history_range(engine, fleet, _enterprise("0327"), DayRange(DAY - timedelta(days=5), DAY))
    assert all(o.ok and o.rows_read == 0 for o in again)
    forced = sync_history_range(engine, fleet, _enterprise("0327"), DayRange(DAY, DAY), run=SyncRun(force=True))
    assert forced[0].rows_read > 0 and forced[0].new_events == 0


def test_fleet_file_is_validated(tmp_path: Path):
    path = tmp_path / "fleet.toml"
    path.write_text('[enterprises."0327"]\nhost = "10.0.0.1"\nport = 22\npassword_env = "PBX_PW"\n')
    assert load_fleet_file(path)["0327"].port == 22
    for bad in ('[enterprises."03|27"]\nport = 22\n', '[enterprises."0327"]\npasword = "x"\n',
                '[enterprises."0327"]\ntimezone = "Mars/Base"\n', "not toml ["):
        path.write_text(bad)
        with pytest.raises(FleetConfigError):
            load_fleet_file(path)


def test_fleet_uses_password_variable_named_in_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "fleet.toml"
    path.write_text('[enterprises."0327"]\nhost = "127.0.1.9"\npassword_env = "PBX_0327_PW"\n')
    monkeypatch.setenv("PBX_0327_PW", "from-the-environment")
    fleet = Fleet.load(Settings(home=tmp_path, fleet_file=path, ssh_password="shared"))
    special = fleet.pbx(_enterprise("0327")).transport()
    shared = fleet.pbx(Enterprise("0100", ip="127.0.1.8")).transport()
    assert special.target.password == "from-the-environment" and special.target.host == "127.0.1.9"  # type: ignore[attr-defined]
    assert shared.target.password == "shared" and shared.target.port == 5059  # type: ignore[attr-defined]
    assert "from-the-environment" not in repr(special.target)  # type: ignore[attr-defined]
