"""SPEC §4.2 ``calls.shape`` and ``call_legs.link`` for every shape of §2.3, and the record
``assemble(explain=True)`` keeps of why (pure assembly on rows built in the test)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from asterisk_pipeline.model import LINKS, SHAPES
from tests.support.conversations import shapes
from tests.support.conversations.assembly import assemble_rows, calls_of
from tests.support.conversations.shapes import Pbx

PHONE, MOBILE = "375291112233", "375290000002"


def _without_hop_hangups(pbx: Pbx) -> dict[str, Any]:
    """An attended transfer whose consultation hops left no hangup: two holders, and the rows
    do not tell how the caller was handed over."""
    expected = shapes.attended_transfer(pbx, 0, PHONE, ["151", "152"])
    pbx.rows = [r for r in pbx.rows if not (r[2][1] == "hangup" and r[2][2] != expected["primary"])]
    return {**expected, "shape": "transfer"}


BUILDERS: dict[str, list[Callable[[Pbx], dict[str, Any]]]] = {
    "direct": [lambda p: shapes.answered_incoming(p, 0, PHONE, "151", group=["151"])],
    # several parties rang (SPEC §4.2 'group'): a ring group, or a blind transfer whose target was
    # busy — the caller's one holder rang first, the busy colleague after
    "group": [lambda p: shapes.answered_incoming(p, 0, PHONE, "151"),
              lambda p: shapes.blind_transfer_to_busy(p, 0, PHONE, "151", "152")],
    "transfer": [_without_hop_hangups],
    "transfer_attended": [lambda p: shapes.attended_transfer(p, 0, PHONE, ["151", "152"]),
                          lambda p: shapes.attended_transfer(p, 0, PHONE, ["151", "152", "150"])],
    # a blind transfer that reaches FollowMe is a transfer first (two holders), FollowMe second
    "transfer_blind": [lambda p: shapes.blind_transfer(p, 0, PHONE, "151", "152"),
                       lambda p: shapes.followme_after_transfer(p, 0, PHONE, "151", "150", MOBILE),
                       lambda p: shapes.followme_after_transfer(p, 0, PHONE, "151", "150", MOBILE, far_end=False)],
    "followme": [lambda p: shapes.forwarded_to_mobile(p, 0, PHONE, "150", MOBILE),
                 lambda p: shapes.forwarded_to_mobile(p, 0, PHONE, "150", MOBILE, answered_on_mobile=True)],
    "consultation_unanswered": [lambda p: shapes.unanswered_consultation(p, 0, PHONE, "151", "152", bridged=True)],
    "unanswered": [lambda p: shapes.unanswered_incoming(p, 0, PHONE, ["150", "151"])],
    "outgoing": [lambda p: shapes.outgoing_call(p, 0, "151", PHONE)],
    "internal": [lambda p: shapes.internal_call(p, 0, "152", "151"),
                 lambda p: shapes.internal_call(p, 0, "152", "151", misleading=True)],
}
CASES = [(shape, i) for shape, makers in BUILDERS.items() for i in range(len(makers))]


def test_every_shape_of_the_vocabulary_is_built():
    assert set(BUILDERS) == set(SHAPES)


@pytest.mark.parametrize("strip", [False, True], ids=["bridge-ids", "apilogs"])
@pytest.mark.parametrize(("shape", "variant"), CASES, ids=[f"{s}-{i}" for s, i in CASES])
def test_shape_links_chain_and_participants(shape: str, variant: int, strip: bool):
    pbx = Pbx()
    expected = BUILDERS[shape][variant](pbx)
    assert expected["shape"] == shape
    found = calls_of(assemble_rows(pbx.sorted_rows(strip_bridge_ids=strip)))
    conversation = found[expected["primary"]]
    call = conversation.call
    assert call is not None
    assert call.shape == shape
    assert json.loads(call.transfer_chain) == expected["chain"]
    assert call.final_extension == (expected["chain"][-1] if expected["chain"] else None)
    assert {leg.unique_id: leg.link for leg in conversation.legs} == expected["links"]
    assert all(leg.link in LINKS for leg in conversation.legs)
    assert call.leg_count == len(expected["legs"])
    assert {p.extension: (p.participant_status, p.talk_order) for p in conversation.participants} == expected["participants"]


@pytest.mark.parametrize(("shape", "variant"), CASES, ids=[f"{s}-{i}" for s, i in CASES])
def test_the_explanation_is_the_assembly_itself(shape: str, variant: int):
    """Every leg's rule is its link, every chain entry is a holder in order with the bridge rows
    that say so, every 'no_answer' participant has a reason; the rows cited exist in the input."""
    pbx = Pbx()
    expected = BUILDERS[shape][variant](pbx)
    rows = pbx.sorted_rows()
    plain = calls_of(assemble_rows(rows))[expected["primary"]]
    explained = calls_of(assemble_rows(rows, explain=True))[expected["primary"]]
    assert plain.explain is None and explained.explain is not None
    assert (explained.call, explained.legs, explained.participants) == (plain.call, plain.legs, plain.participants)
    why = explained.explain
    assert why["shape"] == shape
    by_id = {i: row for i, row in enumerate(rows, start=1)}
    assert {leg["unique_id"]: leg["link"] for leg in why["legs"]} == expected["links"]
    for leg in why["legs"]:
        assert leg["rows"], leg
        for ref in leg["rows"]:
            assert ref["table"] == "APIlogs" and by_id[ref["source_id"]][1] == ref["event"]
        if leg["link"] == "bridge":  # both channels' rows in that bridge
            assert {ref["unique_id"] for ref in leg["rows"]} == {leg["unique_id"], leg["linked_to"]}
    assert [entry["party"] for entry in why["chain"]] == expected["chain"]
    bridge_backed = any(e["rows"] for e in why["chain"])
    for entry in why["chain"]:
        for ref in entry["rows"]:
            assert by_id[ref["source_id"]][1] in ("bridge", "bridge_leave")
    if expected["chain"] and shape != "unanswered":
        assert bridge_backed
    missed = {e for e, (status, _) in expected["participants"].items() if status == "no_answer"}
    assert {item["party"] for item in why["no_answer"]} == missed
    assert all(item["why"] for item in why["no_answer"])
