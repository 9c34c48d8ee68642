"""However the rows are split into reads, the warehouse ends the same (SPEC §4.3): a busy day of
every shape, imported whole, in live cycles of a few rows, and as history with and without
BridgeUniqueid on bridge rows; ambiguous forwarding legs stored without a call."""
from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse import staging
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations import shapes
from tests.support.conversations.shapes import Pbx
from tests.support.factories import append, create_day_file
from tests.support.pg import fresh_warehouse_like
from tests.support.snapshot import count, snapshot

ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
DAY = date(2025, 7, 3)


def busy_day(seed: int = 7, n: int = 60) -> tuple[Pbx, list[dict]]:
    rng = random.Random(seed)
    pbx = Pbx()
    expected = []
    makers = [
        lambda at: shapes.answered_incoming(pbx, at, rng.choice(["375291110001", "375291110002"]), rng.choice(["150", "151"])),
        lambda at: shapes.attended_transfer(pbx, at, "375291110001", rng.sample(["150", "151", "152"], rng.choice([2, 3]))),
        lambda at: shapes.internal_call(pbx, at, "152", "151", misleading=rng.random() < 0.5),
        lambda at: shapes.blind_transfer_to_busy(pbx, at, "375291110002", "150", "152"),
        lambda at: shapes.forwarded_to_mobile(pbx, at, "375291110003", "150", "375290000002", rng.random() < 0.5),
        lambda at: shapes.unanswered_consultation(pbx, at, "375291110001", "151", "152"),
        lambda at: shapes.outgoing_call(pbx, at, "151", "375291110009"),
    ]
    for i in range(n):
        expected.append(makers[i % len(makers)](i * 7.0))
    return pbx, expected


def _load(engine: Engine, settings: Settings, path: Path, flow: Flow) -> None:
    outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, flow, DAY))
    assert outcome.ok, outcome


def _new_warehouse(db_url: str, tmp_path: Path, pg_template: str, name: str) -> Engine:
    engine = make_engine(fresh_warehouse_like(db_url, tmp_path / name, pg_template) if name else db_url)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    return engine


@pytest.mark.slow
@pytest.mark.parametrize(("cycle", "probe_max"), [(1, None), (4, None), (4, 0)])
def test_live_cycles_of_a_busy_day_equal_one_import(
    db_url: str, pg_template, tmp_path: Path, cycle: int, probe_max: int | None,
    monkeypatch: pytest.MonkeyPatch,
):
    """``probe_max=0``: every key lookup of the cycles goes through the staging tables (the path
    of long key lists), not PostgreSQL's per-key array probes."""
    if probe_max is not None:
        monkeypatch.setattr(staging, "PROBE_MAX_KEYS", probe_max)
    pbx, expected = busy_day(n=21 if cycle == 1 else 42)
    rows = pbx.sorted_rows()
    settings = Settings(home=tmp_path / "home", live_import_all=True)
    (tmp_path / "w").mkdir()
    cycled = _new_warehouse(db_url, tmp_path, pg_template, "")
    path = create_day_file(tmp_path / "cycles" / "Listen_AMI_2025-07-03.db")
    sizes = random.Random(cycle)
    start = 0
    while start < len(rows):
        step = cycle if cycle == 1 else sizes.randint(1, 5)
        append(path, rows[start:start + step], "AlternativeAPIlogs")
        _load(cycled, settings, path, Flow.LIVE)
        start += step
    whole = _new_warehouse(db_url, tmp_path, pg_template, "w")
    once = create_day_file(tmp_path / "once" / "Listen_AMI_2025-07-03.db")
    append(once, rows, "AlternativeAPIlogs")
    _load(whole, settings, once, Flow.LIVE)
    assert snapshot(cycled) == snapshot(whole)
    assert count(whole, "calls") == len(expected)
    with whole.connect() as conn:
        primaries = set(conn.execute(text("SELECT unique_id FROM calls")).scalars())
    assert primaries == {e["primary"] for e in expected}
    cycled.dispose()
    whole.dispose()


def test_history_with_and_without_bridge_ids_gives_the_same_conversations(db_url: str, pg_template, tmp_path: Path):
    pbx, expected = busy_day(n=35)
    settings = Settings(home=tmp_path / "home")
    pictures = []
    for strip in (False, True):
        (tmp_path / str(strip)).mkdir()
        engine = _new_warehouse(db_url, tmp_path, pg_template, str(strip))
        path = create_day_file(tmp_path / f"f{strip}" / "Listen_AMI_2025-07-03.db")
        append(path, pbx.sorted_rows(strip_bridge_ids=strip), "APIlogs")
        _load(engine, settings, path, Flow.HISTORY)
        picture = snapshot(engine)
        pictures.append({k: picture[k] for k in ("calls", "legs", "participants")})
        engine.dispose()
    assert pictures[0] == pictures[1]
    assert len(pictures[0]["calls"]) == len(expected)


def test_ambiguous_forwarding_leg_is_a_leg_without_call(engine: Engine, tmp_path: Path):
    pbx = Pbx()
    _, _, leg = shapes.ambiguous_forwarding(pbx)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, pbx.sorted_rows(), "APIlogs")
    _load(engine, Settings(home=tmp_path / "home"), path, Flow.HISTORY)
    assert count(engine, "calls") == 2
    assert count(engine, "call_legs", "call_id IS NULL") == 2
    with engine.connect() as conn:
        loose = set(conn.execute(text("SELECT unique_id FROM call_legs WHERE call_id IS NULL")).scalars())
        unlinked_events = conn.execute(text(
            "SELECT count(*) FROM call_events WHERE unique_id IN (:a, :b) AND call_id IS NOT NULL"
        ), dict(zip("ab", sorted(leg), strict=True))).scalar_one()
    assert loose == leg and unlinked_events == 0


@pytest.mark.slow
@pytest.mark.parametrize("flush_rows", [40, 400])
def test_conversations_written_on_the_way_equal_one_assembly(db_url: str, pg_template, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, flush_rows: int):
    """A big read assembles and writes quiet conversations while it reads (bounded memory): the
    tables equal those of a read that keeps everything until the end."""
    from asterisk_pipeline.sync import importer

    pbx, expected = busy_day(n=70)
    # spread the day so that conversations go quiet (NEIGHBOURHOOD) while the file is read
    spread = Pbx()
    spread.rows = [(at * 60, order, (spread.when(at * 60),) + row[1:]) for at, order, row in pbx.rows]
    rows = spread.sorted_rows()
    settings = Settings(home=tmp_path / "home", read_chunk_rows=100)
    pictures = []
    for name, limit in (("flushing", flush_rows), ("holding", 10**9)):
        monkeypatch.setattr(importer, "FLUSH_ROWS", limit)
        (tmp_path / name).mkdir()
        engine = _new_warehouse(db_url, tmp_path, pg_template, name)
        path = create_day_file(tmp_path / f"f-{name}" / "Listen_AMI_2025-07-03.db")
        append(path, rows, "APIlogs")
        _load(engine, settings, path, Flow.HISTORY)
        pictures.append(snapshot(engine))
        engine.dispose()
    for key in pictures[0]:
        if pictures[0][key] != pictures[1][key]:
            print(key, "flushing only:", sorted(set(pictures[0][key]) - set(pictures[1][key]))[:2])
            print(key, "holding only:", sorted(set(pictures[1][key]) - set(pictures[0][key]))[:2])
    assert pictures[0] == pictures[1]
    assert len(pictures[0]["calls"]) == len(expected)


def _parked_transfer(pbx: Pbx, phone: str, agent: str, target: str, talk: float) -> dict:
    """An attended transfer as the simulator and the PBX write it: the caller stays in its first
    bridge throughout, the consultation's ;1 half and then the target move into it, and only the
    caller's last leave (``talk`` seconds later) names that bridge on the caller's side."""
    c, a = pbx.uid(0), pbx.uid(1)
    cc, ac = pbx.chan(shapes.TRUNK), pbx.chan(agent)
    main, consult, side = pbx.new_bridge(), pbx.new_bridge(), pbx.new_bridge()
    pbx.start(0, c, phone, cc)
    pbx.dial(0.5, c, phone, [agent])
    pbx.bridge(1, c, cc, phone, agent, main)
    pbx.bridge(3, a, ac, agent, phone, main)
    one_name, two_name = pbx.local(target)
    one, two, t = pbx.uid(100), pbx.uid(100), pbx.uid(101)
    tc = pbx.chan(target)
    pbx.bridge(100, a, ac, agent, phone, consult)
    pbx.add(100, "new_callerid", two, Channel=two_name, CallerIDNum=agent, ConnectedLineNum="<unknown>")
    pbx.add(100, "new_callerid", one, Channel=one_name, CallerIDNum=target, ConnectedLineNum=agent)
    pbx.bridge(110, two, two_name, agent, target, side)
    pbx.bridge(112, t, tc, target, agent, side)
    pbx.leave(160, a, ac, agent, target, consult)
    pbx.leave(160, one, one_name, target, agent, consult)
    pbx.bridge(161, one, one_name, target, phone, main)
    pbx.leave(161, t, tc, target, agent, side)
    pbx.bridge(162, t, tc, target, phone, main)
    pbx.leave(162, one, one_name, target, phone, main)
    pbx.leave(163, two, two_name, agent, target, side)
    pbx.hangup(165, two, phone=phone, extensions=[target], call_type=2, status="2", start=100, trunk=None)
    pbx.leave(162 + talk, t, tc, target, phone, main)
    pbx.leave(162 + talk, c, cc, phone, target, main)
    pbx.hangup(162 + talk, c, phone=phone, extensions=[agent], call_type=0, status="2", start=0)
    return {"primary": c, "legs": {c, a, one, two, t}, "chain": [agent, target]}


def test_a_local_half_parked_in_the_callers_bridge_longer_than_quiet(
        db_url: str, pg_template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The caller talks with the transfer's target for ten minutes without a row, and APIlogs
    ``bridge`` rows name no bridge: until the caller's last leave, the consultation (the agent's
    channel, both Local halves) is tied to the caller by nothing, and its own rows have all
    ended. Other calls keep the read busy enough to flush: the consultation must not be written
    as legs without a call — the target's channel is still inside a bridge it has not left.
    Found on the 20,000-conversation busy day (14 transfers lost their middle legs)."""
    from asterisk_pipeline.sync import importer

    pbx = Pbx()
    transfer = _parked_transfer(pbx, "375291110001", "150", "151", talk=600)
    for i in range(60):  # calls every 15 s: the read's newest row moves on, its open rows flush
        shapes.answered_incoming(pbx, 20 + 15 * i, "375291110002", "152")
    rows = pbx.sorted_rows(strip_bridge_ids=True)
    settings = Settings(home=tmp_path / "home", read_chunk_rows=100)
    monkeypatch.setattr(importer, "FLUSH_ROWS", 30)
    engine = _new_warehouse(db_url, tmp_path, pg_template, "parked")
    path = create_day_file(tmp_path / "parked-file" / "Listen_AMI_2025-07-03.db")
    append(path, rows, "APIlogs")
    _load(engine, settings, path, Flow.HISTORY)
    with engine.connect() as conn:
        legs = set(conn.execute(text(
            "SELECT l.unique_id FROM call_legs l JOIN calls c ON c.id = l.call_id WHERE c.unique_id = :u"),
            {"u": transfer["primary"]}).scalars())
        chain = conn.execute(text("SELECT transfer_chain FROM calls WHERE unique_id = :u"),
                             {"u": transfer["primary"]}).scalar_one()
    assert legs == transfer["legs"]
    assert count(engine, "call_legs", "call_id IS NULL") == 0
    assert (json.loads(chain) if isinstance(chain, str) else chain) == transfer["chain"]
    engine.dispose()
