"""SPEC §4.3 as a pure function: what a write of conversations does to what is already stored.

The import assembles conversations; the warehouse holds, for some of their UniqueIds, the call
each is filed under and that call's flow. Whether a conversation inserts a call, recomputes its
own, only fills another flow's NULLs (adding the legs that arrive later), files legs without a
call, or supersedes calls that once held its UniqueIds is decided here, with no SQL in sight;
``sync.importer`` turns the plan into rows and ``warehouse.conversation_store`` applies them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from .conversations import Conversation
from .model import Leg, LegOwner


class Action(Enum):
    INSERT = "insert"  # this flow's call, new: a call id is needed
    RECOMPUTE = "recompute"  # this flow's call filed under the same primary: every field again
    FILL = "fill"  # another flow's call keeps it: its NULLs filled, later legs added
    UNFILED = "unfiled"  # no call (none yet, or a live call the PBX delivered): legs without one


class Filing(NamedTuple):
    """What the write does for one conversation."""

    conversation: Conversation
    action: Action
    call_id: int | None  # the stored call written (RECOMPUTE, FILL); None otherwise
    legs: tuple[Leg, ...]  # the call_legs rows it writes
    replaced: tuple[str, ...]  # UniqueIds whose stored legs give way to ``legs``
    superseded: tuple[int, ...]  # this flow's calls that held its UniqueIds under another primary


@dataclass
class Ownership:
    """The plan of one write, in the order of its conversations."""

    filings: list[Filing] = field(default_factory=list)
    superseded: set[int] = field(default_factory=set)
    kept: set[int] = field(default_factory=set)  # stored calls some conversation writes to

    @property
    def removed(self) -> set[int]:
        """Calls to delete: a call kept by one conversation is never superseded by another that
        once shared a leg."""
        return self.superseded - self.kept


def plan_ownership(
    conversations: Iterable[Conversation], owners: Mapping[str, LegOwner], source: str,
    *, live_rule: bool = False,
) -> Ownership:
    """Decide, for each conversation, what the write does (SPEC §4.3).

    ``owners``: for the UniqueIds already filed as legs, their call, its primary and its flow.
    ``source``: the writing flow's ``data_source``. ``live_rule``: live rows of calls the PBX
    delivered itself are not imported (a live read without ``live_import_all``).
    """
    plan = Ownership()
    for conv in conversations:
        filing = _filing(conv, owners, source, live_rule)
        plan.filings.append(filing)
        plan.superseded.update(filing.superseded)
        if filing.call_id is not None:
            plan.kept.add(filing.call_id)
    return plan


def _filing(conv: Conversation, owners: Mapping[str, LegOwner], source: str, live_rule: bool) -> Filing:
    filed = [owners[u] for u in conv.unique_ids if u in owners]
    others = [o for o in filed if o.call_id is not None and o.data_source != source]
    own = {o.call_id: o for o in filed if o.call_id is not None and o.data_source == source}
    if others:
        # Another flow wrote this conversation first: it keeps it; fill its NULLs, add the legs
        # that arrive later, leave its participants alone.
        keep = next((o for o in others if o.call_unique_id == conv.primary), others[0])
        legs = tuple(
            leg for leg in conv.legs
            if leg.unique_id not in owners or owners[leg.unique_id].call_id in own
        )
        return Filing(conv, Action.FILL, keep.call_id, legs, tuple(leg.unique_id for leg in legs), tuple(own))
    if conv.call is not None and not (live_rule and conv.live_delivered):
        same = next((cid for cid, o in own.items() if o.call_unique_id == conv.primary), None)
        superseded = tuple(cid for cid in own if cid != same)
        action = Action.INSERT if same is None else Action.RECOMPUTE
        return Filing(conv, action, same, conv.legs, conv.unique_ids, superseded)
    legs = conv.legs if conv.forwarding_only else ()
    return Filing(conv, Action.UNFILED, None, legs, conv.unique_ids, tuple(own))
