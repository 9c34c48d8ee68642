"""The recorded production conversations, imported as an operator would, give the operator's
answer — whole, in live cycles of 1–5 rows, without BridgeUniqueid on bridge rows (as in
production APIlogs), and split over two day files in either order (SPEC §2.3, §4.2–4.4)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.model import Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations.examples import (
    ENT,
    day_of,
    example_names,
    failed_trunk_attempts,
    load_example,
    rows_of,
    spec_expected,
)
from tests.support.conversations.warehouse_view import conversations
from tests.support.factories import append, create_day_file
from tests.support.pg import fresh_warehouse_like
from tests.support.snapshot import snapshot


def _import(engine: Engine, settings: Settings, path: Path, flow: Flow, day: date) -> None:
    outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, flow, day))
    assert outcome.ok, outcome


def _expected(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The operator's answer, legs as SPEC §4.2 counts them (see ``failed_trunk_attempts``)."""
    assert example["expected"]["conversation_count"] == len(example["expected"]["conversations"])
    return spec_expected(example)


def _answers(engine: Engine) -> list[dict[str, Any]]:
    found = conversations(engine, ENT.number)
    for item in found:
        assert item.pop("leg_count") == len(item["legs"])
    return found


@pytest.fixture
def warehouse(engine: Engine) -> Engine:
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    return engine


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", read_chunk_rows=100)


@pytest.mark.parametrize("name", example_names())
@pytest.mark.parametrize("strip", [False, True], ids=["bridge-ids", "production-apilogs"])
def test_history_import_gives_the_operators_answer(warehouse: Engine, settings: Settings, tmp_path: Path, name: str, strip: bool):
    example = load_example(name)
    day = day_of(example)
    path = create_day_file(tmp_path / f"Listen_AMI_{day}.db")
    append(path, rows_of(example, strip), "APIlogs")
    _import(warehouse, settings, path, Flow.HISTORY, day)
    assert _answers(warehouse) == _expected(example)
    # a failed trunk attempt stays an unlinked event: stored, with no call and no leg (SPEC §4.2)
    attempts = failed_trunk_attempts(example)
    with warehouse.connect() as conn:
        events = conn.execute(text(
            "SELECT unique_id, call_id FROM call_events WHERE enterprise_id = :e"), {"e": ENT.number}).all()
        legs = {uid for (uid,) in conn.execute(text("SELECT unique_id FROM call_legs"))}
    assert {uid for uid, call_id in events if uid in attempts and call_id is None} == attempts
    assert not attempts & legs


@pytest.mark.parametrize("name", example_names())
@pytest.mark.parametrize("cycle", [1, 2, 3, 5])
def test_live_cycles_of_a_few_rows_equal_one_import(engine: Engine, db_url: str, pg_template, tmp_path: Path, settings: Settings, name: str, cycle: int):
    """However the rows were split into live cycles, the result equals one import (SPEC §4.3).

    The recorded rows were delivered (status 200), so the live flow is told to import all calls.
    """
    settings = Settings(home=settings.home, live_import_all=True)
    example = load_example(name)
    day, rows = day_of(example), rows_of(example)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    path = create_day_file(tmp_path / "cycles" / f"Listen_AMI_{day}.db")
    for start in range(0, len(rows), cycle):
        append(path, rows[start:start + cycle], "AlternativeAPIlogs")
        _import(engine, settings, path, Flow.LIVE, day)
    assert _answers(engine) == _expected(example)
    cycled = snapshot(engine)

    whole_url = fresh_warehouse_like(db_url, tmp_path, pg_template)
    from asterisk_pipeline.warehouse.db import make_engine

    whole = make_engine(whole_url)
    with write_transaction(whole) as conn:
        upsert_enterprise(conn, ENT)
    once = create_day_file(tmp_path / "once" / f"Listen_AMI_{day}.db")
    append(once, rows, "AlternativeAPIlogs")
    _import(whole, settings, once, Flow.LIVE, day)
    assert snapshot(whole) == cycled
    whole.dispose()


@pytest.mark.parametrize("name", example_names())
@pytest.mark.parametrize("order", ["day-then-next", "next-then-day"])
def test_a_conversation_across_midnight_is_one(warehouse: Engine, settings: Settings, tmp_path: Path, name: str, order: str):
    """Rows split over two day files (ids restart at 1) still make one conversation."""
    example = load_example(name)
    day, rows = day_of(example), rows_of(example, strip=True)
    half = len(rows) // 2
    first = create_day_file(tmp_path / f"Listen_AMI_{day}.db")
    append(first, rows[:half], "APIlogs")
    second = create_day_file(tmp_path / f"Listen_AMI_{day + timedelta(days=1)}.db")
    append(second, rows[half:], "APIlogs")
    files = [(first, day), (second, day + timedelta(days=1))]
    for path, file_day in files if order == "day-then-next" else files[::-1]:
        _import(warehouse, settings, path, Flow.HISTORY, file_day)
    assert _answers(warehouse) == _expected(example)


@pytest.mark.parametrize("name", example_names())
def test_cli_import_then_live_gives_the_answer_once(tmp_path: Path, name: str):
    """Through the documented CLI: history then live over the same file — one conversation."""
    example = load_example(name)
    day = day_of(example)
    path = create_day_file(tmp_path / f"Listen_AMI_{day}.db")
    append(path, rows_of(example, strip=True), "APIlogs")
    append(path, rows_of(example), "AlternativeAPIlogs")
    db = f"sqlite:///{tmp_path / 'central.db'}"
    env_home = tmp_path / "home"

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "asterisk_pipeline.cli", *args, "--db", db],
            capture_output=True, text=True, check=False, env={"ASTERISK_HOME": str(env_home), "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("db", "upgrade")
    cli("enterprise", "add", ENT.number, "--name", "VOS", "--host", "vos.vochi.lan", "--secret", "s3")
    cli("import-file", str(path), "--enterprise", ENT.number, "--flow", "history")
    cli("import-file", str(path), "--enterprise", ENT.number, "--flow", "live")
    from asterisk_pipeline.warehouse.db import make_engine

    engine = make_engine(db)
    assert _answers(engine) == _expected(example)
    engine.dispose()
    shown = json.loads(cli("calls", "show", example["expected"]["conversations"][0]["legs"][0], "--json"))
    assert shown["call"]["transfer_chain"] == example["expected"]["conversations"][0]["transfer_chain"]
