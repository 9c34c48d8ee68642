"""A busy day (SPEC §2.3, issue 19): 2,000 conversations of every shape at once, sharing
extensions, trunks and caller numbers, imported as history and as live cycles, equal to the
simulator's ground truth conversation by conversation — never a leg of one in another."""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.devtools.calls import BUSY_SHAPES, CALL_SHAPES, SHAPES
from asterisk_pipeline.devtools.dayfile import DayFileSummary
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations.busy_day import (
    CORE_FIELDS,
    DAY,
    ENTERPRISE,
    SHAPE_FIELDS,
    Picture,
    append_rows,
    compare,
    cycles,
    picture,
    source_rows,
    write_busy_day,
)
from tests.support.factories import create_day_file
from tests.support.pg import database_url, new_pg_database

pytestmark = pytest.mark.slow  # make quick leaves it to make test

ENT = Enterprise(ENTERPRISE, "VOS", "vos.vochi.lan", "secret-327")
CONVERSATIONS = 2_000


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> DayFileSummary:
    return write_busy_day(tmp_path_factory.mktemp("busy"), CONVERSATIONS)


@pytest.fixture(scope="module", params=[
    ("sqlite", "history"), ("sqlite", "live"), ("postgresql", "history"), ("postgresql", "live"),
], ids="-".join)
def imported(request: pytest.FixtureRequest, busy: DayFileSummary,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Picture]:
    """The busy day imported once per database and flow; both comparisons read the same tables."""
    kind, flow = request.param
    tmp_path = tmp_path_factory.mktemp(f"{kind}-{flow}")
    with ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / 'central.db'}"
        else:
            template = request.getfixturevalue("pg_template")
            url = database_url(stack.enter_context(new_pg_database("ap_busy", template=template)))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        if kind == "sqlite":
            upgrade(engine)
        with write_transaction(engine) as conn:
            upsert_enterprise(conn, ENT)
        _import(engine, busy, tmp_path, flow)
        yield picture(engine)


def _import(engine: Engine, busy: DayFileSummary, tmp_path: Path, flow: str) -> None:
    """History: the day's APIlogs at once (no BridgeUniqueid on bridge rows, as in production).
    Live: AlternativeAPIlogs as the listener writes it, a cycle after every 2,000-6,000 rows
    (each cycle boundary cuts through hundreds of conversations in progress)."""
    if flow == "history":
        outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path / "home")), ENT, LocalDayFile(busy.path, Flow.HISTORY, DAY))
        assert outcome.ok, outcome
        return
    settings = Settings(home=tmp_path / "home", live_import_all=True)
    path = create_day_file(tmp_path / "live" / busy.path.name)
    sizes = random.Random(19)
    for rows in cycles(source_rows(busy.path, "AlternativeAPIlogs"), iter(lambda: sizes.randint(2000, 6000), 0)):
        append_rows(path, "AlternativeAPIlogs", rows)
        outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, Flow.LIVE, DAY))
        assert outcome.ok, outcome


def test_the_busy_day_is_busy(busy: DayFileSummary):
    """Every shape of SPEC §4.2, thousands in progress at once, parties shared between them."""
    truth = busy.conversations
    assert len(truth) >= CONVERSATIONS
    assert {c.call_shape for c in truth} == set(CALL_SHAPES)
    assert {c.shape for c in truth} == set(SHAPES) | set(BUSY_SHAPES)
    edges = sorted([(c.start_second, 1) for c in truth] + [(c.end_second, -1) for c in truth])
    in_progress = peak = 0
    for _, step in edges:
        in_progress += step
        peak = max(peak, in_progress)
    assert peak >= 1_000
    callers = [c.phone for c in truth if c.direction == "0"]
    assert len(set(callers)) * 10 < len(callers)  # caller numbers recur across conversations
    desks = [p for c in truth for p, status in c.participants if status == "answered" and len(p) <= 5]
    assert len(set(desks)) * 20 < len(desks)
    # a manager's mobile in two open forwards: rule 3 cannot tell, the legs stay without a call
    assert sum(bool(c.loose) for c in truth) >= 10


def test_busy_day_equals_ground_truth(imported: Picture, busy: DayFileSummary):
    """Every one of the 2,000 conversations equals the simulator's truth on every field: the
    primary (no call that is no conversation), its legs with their links, the chain, the
    participants with their status and the shape; the forwards rule 3 cannot place stay legs
    without a call, and no other leg is without one."""
    verdict = compare(imported, busy.conversations, (*CORE_FIELDS, *SHAPE_FIELDS))
    assert verdict.ok, verdict.report()
    assert set(verdict.per_shape) == set(CALL_SHAPES)
    assert all(n == good for n, good in verdict.per_shape.values())


def test_busy_day_never_puts_a_leg_in_another_conversation(imported: Picture, busy: DayFileSummary):
    """The sharpest failure named apart: a leg of one conversation stored in another's call, or a
    failed trunk attempt made a leg (SPEC §4.2: it stays an unlinked event)."""
    owner = {uid: c.unique_id for c in busy.conversations for uid in c.legs}
    attempts = {uid for c in busy.conversations for uid in c.trunk_attempts}
    wrong = [(primary, uid) for primary, call in imported.calls.items() for uid in call["legs"]
             if owner.get(uid, primary) != primary or uid in attempts]
    assert not wrong, f"{len(wrong)} legs in the wrong call, e.g. {wrong[:5]}"
    assert not attempts & set(imported.loose_legs)
