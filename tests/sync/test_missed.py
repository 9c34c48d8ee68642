"""``missed_calls`` kept by every import and rebuild (SPEC §4.7), from real day files, on both
databases: the table does not depend on the order the files arrive in."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file, missed
from asterisk_pipeline.sync.rebuild import RebuildScope, rebuild_calls
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.missed import EXPECTED, FIRST, SECOND, day_file, incoming, missed_day_files

IN_ORDER = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375001")
REVERSED = Enterprise("0100", "Radis1", "radis.vochi.lan", "secret-100", "10.88.10.14", "375002")
MINSK = ZoneInfo("Europe/Minsk")


@pytest.fixture
def files(tmp_path: Path) -> dict[date, Path]:
    return missed_day_files(tmp_path)


def load(engine: Engine, fleet: Fleet, enterprise: Enterprise, files: dict[date, Path], order: list[date]) -> None:
    for day in order:
        outcome = import_day_file(engine, fleet, enterprise, LocalDayFile(files[day], Flow.HISTORY, day))
        assert outcome.ok, outcome


def missed_table(engine: Engine, enterprise: str) -> list[tuple]:
    """The enterprise's rows with call ids replaced by UniqueIds (ids differ between loads)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT c.unique_id, m.phone_number, m.status, r.unique_id, m.resolved_by,"
            " m.seconds_to_resolution, m.callback_attempts FROM missed_calls m"
            " JOIN calls c ON c.id = m.call_id LEFT JOIN calls r ON r.id = m.resolved_call_id"
            " WHERE m.enterprise_id = :e ORDER BY c.unique_id"), {"e": enterprise})]


@pytest.fixture
def fleet(engine: Engine, tmp_path: Path) -> Fleet:
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, IN_ORDER)
        upsert_enterprise(conn, REVERSED)
    return Fleet.load(Settings(home=tmp_path))


def test_a_callback_in_a_later_file_gives_the_same_table_imported_first_or_last(engine, fleet, files):
    load(engine, fleet, IN_ORDER, files, [FIRST, SECOND])
    load(engine, fleet, REVERSED, files, [SECOND, FIRST])
    assert missed_table(engine, IN_ORDER.number) == EXPECTED
    assert missed_table(engine, REVERSED.number) == EXPECTED


def test_reimport_and_rebuild_leave_the_table_as_it_was(engine, fleet, files):
    load(engine, fleet, IN_ORDER, files, [SECOND, FIRST])
    load(engine, fleet, IN_ORDER, files, [FIRST])  # nothing new: the cursor is at the end
    rebuild_calls(engine, fleet, RebuildScope(IN_ORDER.number))
    assert missed_table(engine, IN_ORDER.number) == EXPECTED


def test_a_missed_call_today_stays_open_until_its_window_passes(engine, tmp_path):
    today = datetime.now(MINSK).replace(microsecond=0)
    start = (today - timedelta(minutes=5)).replace(tzinfo=None)
    day = start.date()
    path = day_file(tmp_path / "t", day, incoming("1700000000.1", start.isoformat(" "), "+375291112233", answered=False))
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, IN_ORDER)
    settings = Settings(home=tmp_path, missed_window_days=1)
    outcome = import_day_file(engine, Fleet.load(settings), IN_ORDER, LocalDayFile(path, Flow.HISTORY, day))
    assert outcome.ok, outcome
    with engine.connect() as conn:
        status, expires_at = conn.execute(text("SELECT status, expires_at FROM missed_calls")).one()
    assert status == "open"
    stored = datetime.fromisoformat(str(expires_at)).replace(tzinfo=UTC) if isinstance(expires_at, str) else expires_at
    assert stored.astimezone(UTC) == start.replace(tzinfo=MINSK).astimezone(UTC) + timedelta(days=1)


@pytest.fixture
def spill_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write's touched keys go to ``stage_touched`` (a day's ~200,000 keys do, past 2,000)."""
    monkeypatch.setattr(missed, "SPILL_AT", 0)


def test_touched_keys_spilled_to_staging_give_the_same_table(engine, fleet, files, spill_every_key):
    load(engine, fleet, IN_ORDER, files, [FIRST, SECOND])
    load(engine, fleet, REVERSED, files, [SECOND, FIRST])
    rebuild_calls(engine, fleet, RebuildScope(IN_ORDER.number))
    assert missed_table(engine, IN_ORDER.number) == EXPECTED
    assert missed_table(engine, REVERSED.number) == EXPECTED
