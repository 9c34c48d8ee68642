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

from asterisk_pipeline import simulate as sim
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import import_day_file
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.conftest import _db_url, new_pg_database
from tests.conversations.busy_day import (
    DAY,
    ENTERPRISE,
    Picture,
    append_rows,
    cycles,
    picture,
    source_rows,
    write_busy_day,
)
from tests.factories import create_day_file

ENT = Enterprise(ENTERPRISE, "VOS", "vos.vochi.lan", "secret-327")
CONVERSATIONS = 2_000


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> sim.DayFileSummary:
    return write_busy_day(tmp_path_factory.mktemp("busy"), CONVERSATIONS)


@pytest.fixture(scope="module", params=[
    ("sqlite", "history"), ("sqlite", "live"), ("postgresql", "history"), ("postgresql", "live"),
], ids="-".join)
def imported(request: pytest.FixtureRequest, busy: sim.DayFileSummary,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Picture]:
    """The busy day imported once per database and flow; both comparisons read the same tables."""
    kind, flow = request.param
    tmp_path = tmp_path_factory.mktemp(f"{kind}-{flow}")
    with ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / 'central.db'}"
        else:
            template = request.getfixturevalue("pg_template")
            url = _db_url(stack.enter_context(new_pg_database("ap_busy", template=template)))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        if kind == "sqlite":
            upgrade(engine)
        with write_transaction(engine) as conn:
            upsert_enterprise(conn, ENT)
        _import(engine, busy, tmp_path, flow)
        yield picture(engine)


def _import(engine: Engine, busy: sim.DayFileSummary, tmp_path: Path, flow: str) -> None:
    """History: the day's APIlogs at once (no BridgeUniqueid on bridge rows, as in production).
    Live: AlternativeAPIlogs as the listener writes it, a cycle after every 2,000-6,000 rows
    (each cycle boundary cuts through hundreds of conversations in progress)."""
    if flow == "history":
        outcome = import_day_file(engine, ENT, busy.path, flow=Flow.HISTORY, file_date=DAY,
                                  settings=Settings(home=tmp_path / "home"))
        assert outcome.ok, outcome
        return
    settings = Settings(home=tmp_path / "home", live_import_all=True)
    path = create_day_file(tmp_path / "live" / busy.path.name)
    sizes = random.Random(19)
    for rows in cycles(source_rows(busy.path, "AlternativeAPIlogs"), iter(lambda: sizes.randint(2000, 6000), 0)):
        append_rows(path, "AlternativeAPIlogs", rows)
        outcome = import_day_file(engine, ENT, path, flow=Flow.LIVE, file_date=DAY, settings=settings)
        assert outcome.ok, outcome


def test_the_busy_day_is_busy(busy: sim.DayFileSummary):
    """Every shape of SPEC §4.2, thousands in progress at once, parties shared between them."""
    truth = busy.conversations
    assert len(truth) >= CONVERSATIONS
    assert {c.call_shape for c in truth} == set(sim.CALL_SHAPES)
    assert {c.shape for c in truth} == set(sim.SHAPES) | set(sim.BUSY_SHAPES)
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


def test_busy_day_keeps_every_conversation_apart(imported: Picture, busy: sim.DayFileSummary):
    """What the SPEC's rules and the simulator's truth agree on, for all 2,000 conversations: the
    same primaries (no call that is no conversation), the same chain and holders, every truth leg
    in its own call and nothing of another conversation in it — the only extra legs a call may
    have are its own failed trunk attempts (the recorded call 2-13 lists them as legs, SPEC §4.2
    leaves them unlinked: the two disagree, see the issue note). Not compared here, because the
    core and the truth read the SPEC differently and it does not decide (issue 19 stays open on
    them): each leg's ``link`` label, ``shape`` precedence of a transfer to a FollowMe number,
    and whether that FollowMe number is a 'no_answer' participant."""
    truth = {c.unique_id: c for c in busy.conversations}
    assert set(imported.calls) == set(truth)
    owner = {uid: c.unique_id for c in truth.values() for uid in c.legs}
    wrong: list[str] = []
    for primary, conv in truth.items():
        expected = conv.truth()
        got = imported.calls[primary]
        mine = {leg["unique_id"] for leg in expected["legs"]}
        extra = set(got["legs"]) - mine
        if not mine <= set(got["legs"]) or not extra <= set(conv.trunk_attempts):
            wrong.append(f"{primary} legs {sorted(got['legs'])} vs {sorted(mine)}")
        if any(owner.get(uid, primary) != primary for uid in got["legs"]):
            wrong.append(f"{primary} holds a leg of another conversation")
        if got["chain"] != expected["chain"]:
            wrong.append(f"{primary} chain {got['chain']} vs {expected['chain']}")
        held = {p["party"] for p in expected["participants"] if p["status"] == "answered"}
        if {p for p, status in got["participants"].items() if status == "answered"} != held:
            wrong.append(f"{primary} holders {got['participants']} vs {expected['participants']}")
    assert not wrong, f"{len(wrong)} wrong, e.g. {wrong[:5]}"
