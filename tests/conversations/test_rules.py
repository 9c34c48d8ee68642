"""SPEC §4.2–4.4 rule by rule on rows built in the test (pure assembly, no database)."""
from __future__ import annotations

import json

import pytest

from asterisk_pipeline.conversations import Conversation, parse_channel
from tests.support.conversations import shapes
from tests.support.conversations.assembly import assemble_rows, calls_of
from tests.support.conversations.shapes import Pbx


def check(conversation: Conversation, expected: dict) -> None:
    call = conversation.call
    assert call is not None
    assert call.unique_id == expected["primary"]
    assert call.call_type == expected["direction"]
    assert json.loads(call.transfer_chain) == expected["chain"]
    assert call.answered_by == expected["chain"][0] and call.final_extension == expected["chain"][-1]
    assert call.is_answered
    assert {leg.unique_id for leg in conversation.legs} == expected["legs"]
    assert call.leg_count == len(expected["legs"])
    assert [leg.role for leg in conversation.legs].count("primary") == 1
    assert conversation.legs[0].unique_id == expected["primary"]


@pytest.mark.parametrize("strip", [False, True], ids=["bridge-ids", "apilogs"])
@pytest.mark.parametrize("shape", [
    lambda p: shapes.answered_incoming(p, 0, "375291112233", "151"),
    lambda p: shapes.internal_call(p, 0, "152", "151"),
    lambda p: shapes.internal_call(p, 0, "152", "151", misleading=True),
    lambda p: shapes.blind_transfer_to_busy(p, 0, "375291112233", "151", "152"),
    lambda p: shapes.forwarded_to_mobile(p, 0, "375291112233", "150", "375290000002"),
    lambda p: shapes.forwarded_to_mobile(p, 0, "375291112233", "150", "375290000002", answered_on_mobile=True),
    lambda p: shapes.attended_transfer(p, 0, "375291112233", ["151", "152"]),
    lambda p: shapes.attended_transfer(p, 0, "375291112233", ["151", "152", "150"]),
    lambda p: shapes.unanswered_consultation(p, 0, "375291112233", "151", "152"),
    lambda p: shapes.outgoing_call(p, 0, "151", "375291112233"),
], ids=["incoming", "internal", "internal-calltype-0", "blind-to-busy", "followme-cancelled",
        "followme-mobile", "transfer-2-hops", "transfer-3-hops", "unanswered-consultation", "outgoing"])
def test_every_shape_is_one_conversation(shape, strip: bool):
    pbx = Pbx()
    expected = shape(pbx)
    found = assemble_rows(pbx.sorted_rows(strip_bridge_ids=strip))
    calls = calls_of(found)
    assert list(calls) == [expected["primary"]]
    check(calls[expected["primary"]], expected)
    for conv in found:
        if conv.call is None:  # only an unlinkable forwarding leg may stay outside the call
            assert conv.forwarding_only and set(conv.unique_ids) <= expected.get("unlinked", set())


def test_blind_transfer_to_a_busy_extension_is_an_answered_incoming_call():
    pbx = Pbx()
    expected = shapes.blind_transfer_to_busy(pbx, 0, "375291112233", "151", "152")
    call = calls_of(assemble_rows(pbx.sorted_rows()))[expected["primary"]].call
    assert call is not None
    assert (call.call_type, call.call_status, call.is_answered, call.answered_by) == ("0", "0", True, "151")


def test_internal_call_with_calltype_0_is_internal():
    pbx = Pbx()
    expected = shapes.internal_call(pbx, 0, "152", "151", misleading=True)
    conversation = calls_of(assemble_rows(pbx.sorted_rows()))[expected["primary"]]
    assert conversation.call is not None and conversation.call.call_type == "2"
    assert [p.extension for p in conversation.participants] == ["151"]  # the caller is the other side


def test_a_busy_colleague_in_two_overlapping_conversations_keeps_them_two():
    """152 is in an internal call with 153 while a customer call is transferred to 152."""
    pbx = Pbx()
    internal = shapes.internal_call(pbx, 0, "153", "152", talk=200)
    customer = shapes.attended_transfer(pbx, 10, "375291112233", ["151", "152"])
    calls = calls_of(assemble_rows(pbx.sorted_rows(strip_bridge_ids=True)))
    assert set(calls) == {internal["primary"], customer["primary"]}
    check(calls[internal["primary"]], internal)
    check(calls[customer["primary"]], customer)


def test_a_busy_day_never_merges_conversations_that_share_parties():
    """Many calls open at once, all on one trunk, the same few extensions and one caller number."""
    pbx = Pbx()
    expected = []
    for i in range(40):
        at = i * 3.0
        kind = i % 5
        if kind == 0:
            expected.append(shapes.answered_incoming(pbx, at, "375291112233", "151", talk=100))
        elif kind == 1:
            expected.append(shapes.attended_transfer(pbx, at, "375291112233", ["151", "152"]))
        elif kind == 2:
            expected.append(shapes.internal_call(pbx, at, "152", "151", talk=90))
        elif kind == 3:
            expected.append(shapes.outgoing_call(pbx, at, "151", "375291112233"))
        else:
            expected.append(shapes.blind_transfer_to_busy(pbx, at, "375291112233", "151", "152"))
    calls = calls_of(assemble_rows(pbx.sorted_rows(strip_bridge_ids=True)))
    assert len(calls) == len(expected)
    for item in expected:
        check(calls[item["primary"]], item)


def test_a_forwarding_leg_with_two_candidates_is_linked_to_neither():
    """Two open calls both ring the manager's mobile: the Local leg cannot tell which it serves."""
    pbx = Pbx()
    a, b, leg = shapes.ambiguous_forwarding(pbx)
    one, two = sorted(leg)
    found = assemble_rows(pbx.sorted_rows())
    calls = calls_of(found)
    assert set(calls) == {a["primary"], b["primary"]}  # never a phantom outgoing call
    assert all(one not in c.unique_ids and two not in c.unique_ids for c in calls.values())
    loose = [c for c in found if c.forwarding_only]
    assert len(loose) == 1 and set(loose[0].unique_ids) == {one, two}
    assert {leg.unique_id for leg in loose[0].legs} == {one, two}


def test_local_halves_pair_only_with_consecutive_uniqueids():
    """The Local counter restarts: two channels of one name in a file are two hops."""
    pbx = Pbx()
    first = shapes.attended_transfer(pbx, 0, "375291110001", ["151", "152"])
    pbx.counter = iter(range(1, 10_000))  # the PBX restarted: channel names repeat
    second = shapes.attended_transfer(pbx, 400, "375291110002", ["153", "154"])
    calls = calls_of(assemble_rows(pbx.sorted_rows()))
    assert set(calls) == {first["primary"], second["primary"]}
    check(calls[first["primary"]], first)
    check(calls[second["primary"]], second)


def test_primary_is_the_start_row_then_desk_dialling_out_then_earliest_hangup():
    pbx = Pbx()
    out = shapes.outgoing_call(pbx, 0, "151", "375291112233")
    calls = calls_of(assemble_rows(pbx.sorted_rows()))
    assert list(calls) == [out["primary"]]
    # no channel information at all: each UniqueId with a hangup is its own call
    bare = Pbx()
    for i in range(3):
        uid = bare.uid(i)
        bare.hangup(i + 10, uid, phone="375291112233", extensions=["201"], call_type=0, status="2", start=i)
    assert len(calls_of(assemble_rows(bare.sorted_rows()))) == 3


def test_participants_follow_dial_order_and_the_chain():
    pbx = Pbx()
    expected = shapes.attended_transfer(pbx, 0, "375291112233", ["151", "152", "150"])
    conversation = calls_of(assemble_rows(pbx.sorted_rows()))[expected["primary"]]
    parts = {p.extension: p for p in conversation.participants}
    assert [p.extension for p in conversation.participants] == ["151", "152", "150"]
    assert [(parts[e].participant_status, parts[e].talk_order) for e in ("151", "152", "150")] == [
        ("answered", 1), ("answered", 2), ("answered", 3)]
    assert all(p.hangup_time == conversation.call.end_time for p in conversation.participants)  # type: ignore[union-attr]
    assert parts["151"].answer_time is not None and parts["151"].answer_time <= parts["152"].answer_time  # type: ignore[operator]


def test_unanswered_call_without_bridges_uses_the_pbx_status():
    pbx = Pbx()
    uid = pbx.uid(0)
    pbx.start(0, uid, "375291112233", pbx.chan(shapes.TRUNK))
    pbx.dial(1, uid, "375291112233", ["201", "202"])
    pbx.hangup(20, uid, phone="375291112233", extensions=["201", "202"], call_type=0, status="0", start=0)
    conversation = calls_of(assemble_rows(pbx.sorted_rows()))[uid]
    assert conversation.call is not None and not conversation.call.is_answered
    assert json.loads(conversation.call.transfer_chain) == []
    assert [(p.extension, p.participant_status, p.talk_order) for p in conversation.participants] == [
        ("201", "no_answer", None), ("202", "no_answer", None)]


@pytest.mark.parametrize("name, expected", [
    ("SIP/0001363-0000006c", ("SIP", "0001363", None, None)),
    ("SIP/151-0000006f", ("SIP", "151", None, None)),
    ("Local/152@dialexecute-00000000;2", ("Local", "152", "Local/152@dialexecute-00000000", 2)),
    ("Local/375000000002@179e93af-00000010;1", ("Local", "375000000002", "Local/375000000002@179e93af-00000010", 1)),
    ("Local/152@dialexecute-00000000", None), ("", None), (None, None),
])
def test_channel_names(name, expected):
    parsed = parse_channel(name)
    assert (None if parsed is None else (parsed.tech, parsed.resource, parsed.local_base, parsed.local_half)) == expected
