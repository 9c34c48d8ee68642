"""A simulated day with every conversation shape, imported through the sync unit, gives back the
simulator's ground truth: one call per conversation, its direction, chain and legs."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.calls import SHAPES
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise

ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
DAY = date(2025, 7, 3)


@pytest.mark.parametrize("flow", [Flow.HISTORY, Flow.LIVE])
def test_simulated_day_gives_the_ground_truth(engine: Engine, tmp_path: Path, flow: Flow):
    path = day_file_path(tmp_path / "logs", ENT.number, DAY)
    summary = write_day_file(path, token=token_for(ENT.number), day=DAY, calls=600, seed=3,
                                 dirty_share=0.0)
    truth = {c.unique_id: c for c in summary.conversations}
    assert {c.shape for c in truth.values()} == set(SHAPES)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, ENT)
    settings = Settings(home=tmp_path / "home", live_import_all=True)
    outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, flow, DAY))
    assert outcome.ok, outcome
    with engine.connect() as conn:
        calls = {r.unique_id: r for r in conn.execute(text(
            "SELECT id, unique_id, call_type, is_answered, transfer_chain, leg_count FROM calls"))}
        legs: dict[int, set[str]] = {}
        for call_id, uid in conn.execute(text("SELECT call_id, unique_id FROM call_legs WHERE call_id IS NOT NULL")):
            legs.setdefault(call_id, set()).add(uid)
    wrong: Counter[str] = Counter()
    for uid, expected in truth.items():
        call = calls.get(uid)
        chain = json.loads(call.transfer_chain) if call is not None and isinstance(call.transfer_chain, str) else (
            call.transfer_chain if call is not None else None)
        ok = (
            call is not None
            and call.call_type == expected.direction
            and bool(call.is_answered) == expected.answered
            and chain == list(expected.transfer_chain)
            and set(expected.linked_legs) <= legs.get(call.id, set()) <= set(expected.legs)
        )
        if not ok:
            wrong[expected.shape] += 1
    assert not wrong, f"conversations that differ from the ground truth, by shape: {dict(wrong)}"
    assert set(calls) == set(truth)  # no phantom calls from legs
