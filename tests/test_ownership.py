"""SPEC §4.3 ownership on hand-built inputs: ``ownership.plan_ownership`` with no database."""
from __future__ import annotations

from asterisk_pipeline.conversations import Conversation
from asterisk_pipeline.model import Call, Leg, LegOwner
from asterisk_pipeline.ownership import Action, Ownership, plan_ownership

HISTORY, LIVE = "history", "live"


def _call(primary: str, source: str = HISTORY) -> Call:
    return Call(primary, "0327", None, None, None, None, "79161234567", None, "101", 1, "0", "2",
                True, source, None, "{}")


def _leg(uid: str, primary: bool = False) -> Leg:
    return Leg(uid, "primary" if primary else "leg", None, None, None, None, None, None, None, None)


def _conv(primary: str, *others: str, call: bool = True, source: str = HISTORY, **flags: bool) -> Conversation:
    uids = (primary, *others)
    return Conversation(
        primary, uids, _call(primary, source) if call else None,
        tuple(_leg(u, u == primary) for u in uids), (), **flags,
    )


def _only(plan: Ownership) -> tuple[Action, int | None, tuple[str, ...], tuple[str, ...]]:
    (filing,) = plan.filings
    return filing.action, filing.call_id, tuple(leg.unique_id for leg in filing.legs), filing.replaced


def test_nothing_stored_inserts_the_call_and_its_legs() -> None:
    plan = plan_ownership([_conv("1.1", "1.2")], {}, HISTORY)
    assert _only(plan) == (Action.INSERT, None, ("1.1", "1.2"), ("1.1", "1.2"))
    assert plan.removed == set()


def test_another_flows_call_is_only_filled_and_gets_the_late_legs() -> None:
    """The live flow wrote the call with its first leg; history adds the leg that came later,
    fills NULLs, and leaves the stored leg alone."""
    owners = {"1.1": LegOwner(7, "1.1", LIVE)}
    plan = plan_ownership([_conv("1.1", "1.2")], owners, HISTORY)
    assert _only(plan) == (Action.FILL, 7, ("1.2",), ("1.2",))
    assert plan.kept == {7} and plan.removed == set()


def test_fill_keeps_the_other_flows_call_with_the_same_primary() -> None:
    owners = {"1.2": LegOwner(8, "1.2", LIVE), "1.1": LegOwner(7, "1.1", LIVE)}
    assert _only(plan_ownership([_conv("1.1", "1.2")], owners, HISTORY))[:2] == (Action.FILL, 7)


def test_fill_takes_over_legs_this_flow_filed_elsewhere_and_supersedes_that_call() -> None:
    owners = {"1.1": LegOwner(7, "1.1", LIVE), "1.2": LegOwner(9, "1.2", HISTORY)}
    plan = plan_ownership([_conv("1.1", "1.2")], owners, HISTORY)
    assert _only(plan) == (Action.FILL, 7, ("1.2",), ("1.2",))
    assert plan.removed == {9}


def test_own_call_under_the_same_primary_is_recomputed() -> None:
    owners = {"1.1": LegOwner(7, "1.1", HISTORY)}
    plan = plan_ownership([_conv("1.1", "1.2")], owners, HISTORY)
    assert _only(plan) == (Action.RECOMPUTE, 7, ("1.1", "1.2"), ("1.1", "1.2"))
    assert plan.removed == set()


def test_a_conversation_now_owning_another_calls_uniqueid_supersedes_it() -> None:
    """1.2 was a call of its own; a later read links it into 1.1's conversation (a late bridge
    row): 1.1 is recomputed with both legs, the stored call of 1.2 is removed."""
    owners = {"1.1": LegOwner(7, "1.1", HISTORY), "1.2": LegOwner(8, "1.2", HISTORY)}
    plan = plan_ownership([_conv("1.1", "1.2")], owners, HISTORY)
    filing = plan.filings[0]
    assert (filing.action, filing.call_id, filing.superseded) == (Action.RECOMPUTE, 7, (8,))
    assert plan.removed == {8}


def test_a_new_primary_inserts_and_removes_the_call_filed_under_the_old_one() -> None:
    owners = {"1.2": LegOwner(8, "1.2", HISTORY)}
    plan = plan_ownership([_conv("1.1", "1.2")], owners, HISTORY)
    assert _only(plan)[:2] == (Action.INSERT, None)
    assert plan.removed == {8}


def test_a_call_kept_by_one_conversation_is_never_removed_by_another() -> None:
    """Two conversations that once shared a leg: the one that keeps call 7 wins over the one
    that would supersede it."""
    owners = {"1.1": LegOwner(7, "1.1", HISTORY), "1.3": LegOwner(7, "1.1", HISTORY)}
    plan = plan_ownership([_conv("1.1", "1.2"), _conv("1.4", "1.3")], owners, HISTORY)
    assert [f.action for f in plan.filings] == [Action.RECOMPUTE, Action.INSERT]
    assert plan.superseded == {7} and plan.kept == {7} and plan.removed == set()


def test_reimport_of_the_same_conversation_writes_it_again_unchanged() -> None:
    """Idempotence: what the first write filed is recomputed under the same call, nothing removed."""
    conv = _conv("1.1", "1.2", "1.3")
    first = plan_ownership([conv], {}, HISTORY)
    assert _only(first)[0] is Action.INSERT
    filed = {u: LegOwner(7, "1.1", HISTORY) for u in conv.unique_ids}
    again = plan_ownership([conv], filed, HISTORY)
    assert _only(again) == (Action.RECOMPUTE, 7, conv.unique_ids, conv.unique_ids)
    assert again.removed == set()
    assert plan_ownership([conv], filed, HISTORY) == again


def test_no_call_yet_files_nothing_and_frees_its_uniqueids() -> None:
    owners = {"1.2": LegOwner(8, "1.2", HISTORY)}
    plan = plan_ownership([_conv("1.1", "1.2", call=False)], owners, HISTORY)
    assert _only(plan) == (Action.UNFILED, None, (), ("1.1", "1.2"))
    assert plan.removed == {8}


def test_forwarding_only_legs_are_filed_without_a_call() -> None:
    plan = plan_ownership([_conv("1.5", "1.6", call=False, forwarding_only=True)], {}, HISTORY)
    assert _only(plan) == (Action.UNFILED, None, ("1.5", "1.6"), ("1.5", "1.6"))


def test_live_rule_skips_calls_the_pbx_delivered_itself() -> None:
    conv = _conv("1.1", source=LIVE, live_delivered=True)
    assert _only(plan_ownership([conv], {}, LIVE, live_rule=True))[0] is Action.UNFILED
    assert _only(plan_ownership([conv], {}, LIVE, live_rule=False))[0] is Action.INSERT
