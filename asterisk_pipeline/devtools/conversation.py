"""Building blocks of multi-UniqueId conversations (SPEC §2.3): channels and their UniqueIds,
Local halves, bridges, the rows each step leaves, and the hand-over of an attended transfer."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from . import rows
from .calls import (
    LAST_SECOND,
    SimCall,
    SimEvent,
    epoch_of_midnight,
    norm_exts,
    participants_of,
    shape_of,
)
from .dialplan import NAMES, Draft, bridge_id, encode_exts
from .dirt import Victim, add_dirt
from .rows import day_timestamps
from .simple import bridge_body


class Leg(NamedTuple):
    """One channel of a conversation: its UniqueId and ``Channel`` name."""

    uid: str
    chan: str


Party = tuple[str, str]  # (CallerIDNum, CallerIDName) of one side of a channel
UNKNOWN: Party = ("<unknown>", "<unknown>")


class View(NamedTuple):
    """One channel as a row shows it: the leg, its own party and the connected line's."""

    leg: Leg
    me: Party
    other: Party


class Side(NamedTuple):
    """One party of a bridge: its channel and who it is."""

    leg: Leg
    party: Party


class Talk(NamedTuple):
    """A caller and who holds them, talking in one bridge."""

    caller: Side
    holder: Side
    bridge: str


class DialRow(NamedTuple):
    """The fields of a ``dial`` row."""

    phone: str
    exts: Any  # an Extensions encoding (:func:`.dialplan.encode_exts`)
    ct: int
    trunk: str
    ext_phone: str = ""


class HangupRow(NamedTuple):
    """The fields of a ``hangup`` row; no ``Trunk`` key when ``trunk`` is None."""

    phone: str
    exts: Any
    ct: int
    received: int
    start: int | None
    end: int
    status: str
    trunk: str | None


class Outcome(NamedTuple):
    """How a conversation ended and its ground truth (:meth:`Conv.finish`).

    ``final`` holds the primary's last hangup fields (:class:`HangupRow` without ``end``).
    """

    shape: str
    direction: str
    ct: int
    status: str
    answered: bool
    s0: int
    end: int
    exts: Sequence[str]
    chain: Sequence[str]
    phone: str
    final: dict[str, Any]
    related: Sequence[str] = ()


class Conv:
    """One conversation being written: its events, UniqueIds and the row helpers.

    Why one object: every body of a conversation shares Token, CallType encoding and optional
    extra keys, and its UniqueIds must come from one contiguous sequence range (Local halves get
    consecutive ones, as Asterisk gives them). Drawn from ``d``: its generator, PBX, day, first
    UniqueId sequence number and dirt probability.
    """

    def __init__(self, d: Draft) -> None:
        rng, day = d.rng, d.day
        self.rng = rng
        self.pbx = d.pbx
        self.tok = d.pbx.token
        self.day = day
        self.dirty_p = d.dirty_p
        self.ts = day_timestamps(day)
        self.epoch0 = epoch_of_midnight(day)
        self.seq = d.seq - 1  # the first UniqueId gets ``d.seq``
        self.events: list[SimEvent] = []
        self.legs: list[str] = []
        self.trunk_attempts: list[str] = []
        self.ct_as_int = rng.random() < 0.5
        self.extra: dict[str, Any] = {}  # keys added to every body with a UniqueId
        self.trunk = ""  # the outside line of an incoming call (Exten of its bridge rows)
        self.dialled: list[tuple[str, tuple[str, ...]]] = []  # (UniqueId, targets) per dial row
        self.local_uids: set[str] = set()  # Local halves
        self.forwarding: set[str] = set()  # legs only SPEC §4.2 rule 3 links
        self.rang_extra: list[str] = []  # parties only a Local channel name shows

    # ids and channels
    def hex8(self) -> str:
        return f"{self.rng.getrandbits(32):08x}"

    def new_uid(self, second: int) -> str:
        self.seq += 1
        uid = f"{self.epoch0 + min(second, LAST_SECOND)}.{self.seq}"
        self.legs.append(uid)
        return uid

    def sip(self, second: int, owner: str) -> Leg:
        """A desk phone (``owner`` = extension) or outside line (``owner`` = trunk) channel."""
        return Leg(self.new_uid(second), f"SIP/{owner}-{self.hex8()}")

    def local(self, second: int, target: str, context: str) -> tuple[Leg, Leg]:
        """The ``;1`` and ``;2`` halves of one Local channel, consecutive UniqueIds."""
        base = f"Local/{target}@{context}-{self.hex8()}"
        one = Leg(self.new_uid(second), base + ";1")
        two = Leg(self.new_uid(second), base + ";2")
        self.local_uids.update((one.uid, two.uid))
        return one, two

    def ct(self, value: int) -> Any:
        return value if self.ct_as_int else str(value)

    # rows
    def add(self, t: int, event: str, uid: str, body: dict[str, Any],
            alt: dict[str, Any] | None = None) -> None:
        if uid and self.extra:
            body.update(self.extra)
        self.events.append(SimEvent(min(t, LAST_SECOND), event, uid, body, alt))

    def create(self, t: int, buid: str | None = None) -> str:
        buid = buid or bridge_id(self.rng)
        self.add(t, "bridge_create", "", bridge_body(self.tok, buid, "0"))
        return buid

    def destroy(self, t: int, buid: str) -> None:
        self.add(t, "bridge_destroy", "", bridge_body(self.tok, buid, "0"))

    def bridge(self, t: int, view: View, buid: str, exten: str = "") -> None:
        """A channel enters a bridge; only the Alternative tables' body names the bridge."""
        leg, me, other = view
        self.add(t, "bridge", leg.uid, rows.body(self.tok, leg.uid, Channel=leg.chan, Exten=exten,
            CallerIDNum=me[0], CallerIDName=me[1], ConnectedLineNum=other[0],
            ConnectedLineName=other[1]), {"BridgeUniqueid": buid})

    def leave(self, t: int, view: View, buid: str, left: int) -> None:
        leg, me, other = view
        self.add(t, "bridge_leave", leg.uid, rows.body(self.tok, leg.uid, Channel=leg.chan,
            CallerIDNum=me[0], CallerIDName=me[1], ConnectedLineNum=other[0],
            ConnectedLineName=other[1], BridgeUniqueid=buid, BridgeNumChannels=str(left)))

    def callerid(self, t: int, view: View, context: str, exten: str) -> None:
        leg, me, other = view
        self.add(t, "new_callerid", leg.uid, rows.body(self.tok, leg.uid, Channel=leg.chan,
            CallerIDNum=me[0], CallerIDName=me[1], ConnectedLineNum=other[0],
            ConnectedLineName=other[1], Context=context, Exten=exten))

    def dial(self, t: int, uid: str, row: DialRow) -> None:
        phone, exts, ct, trunk, ext_phone = row
        self.dialled.append((uid, norm_exts(exts)))
        self.add(t, "dial", uid, rows.body(self.tok, uid, Phone=phone, Extensions=exts,
            CallType=self.ct(ct), Trunk=trunk, ExtTrunk="", ExtPhone=ext_phone))

    def hangup(self, t: int, uid: str, row: HangupRow) -> None:
        """A hangup row written a few seconds after its EndTime; no Trunk key when None."""
        phone, exts, ct, received, start, end, status, trunk = row
        ts = self.ts
        body: dict[str, Any] = rows.body(self.tok, uid, Phone=phone, Extensions=exts,
            CallType=self.ct(ct), DateReceived=ts[min(received, LAST_SECOND)],
            StartTime="" if start is None else ts[min(start, LAST_SECOND)], EndTime=ts[min(end,
            LAST_SECOND)], CallStatus=status)
        if trunk is not None:
            body["Trunk"] = trunk
        self.add(max(t, end), "hangup", uid, body)

    def finish(self, out: Outcome) -> SimCall:
        """Write the primary's own hangup last, add dirt, and return the conversation."""
        shape, direction, ct, status, answered, s0, end, exts, chain, phone, final, related = out
        dirty_p = self.dirty_p
        primary = self.legs[0]
        skip = set(self.trunk_attempts)
        links = tuple(
            (uid, "primary" if uid == primary else "forwarding" if uid in self.forwarding
             else "local" if uid in self.local_uids else "bridge")
            for uid in self.legs if uid not in skip
        )
        dialled = [exts for uid, exts in self.dialled if uid == primary]
        dialled += [exts for uid, exts in self.dialled if uid != primary]
        people = participants_of(dialled, norm_exts(final["exts"]), chain, self.rang_extra, phone)
        last_second = max(e.second for e in self.events) if self.events else s0
        self.hangup(max(last_second, end + self.rng.randint(0, 3)), primary,
                    HangupRow(end=end, **final))
        events = sorted(self.events, key=lambda e: e.second)  # stable: row order within a second
        if dirty_p > 0.0:
            victim = Victim(self.tok, primary, final["phone"], self.day)
            events = add_dirt(self.rng, events, victim, dirty_p)
        return SimCall(
            primary, self.day, ct, status, answered, s0, min(end, LAST_SECOND),
            norm_exts(exts), tuple(events), shape=shape, legs=tuple(self.legs),
            direction=direction, transfer_chain=tuple(chain), phone=phone,
            trunk_attempts=tuple(self.trunk_attempts), related=tuple(related),
            call_shape=shape_of(shape, direction, chain, len(people)), links=links,
            participants=people)


def incoming_start(
    c: Conv, s0: int, caller_p: Party, trunk: str, groups: Sequence[Sequence[str]],
) -> tuple[Leg, int]:
    """start, the caller's new_callerid and one dial row per ring group; returns (caller, t)."""
    phone, name = caller_p
    caller = c.sip(s0, trunk)
    c.trunk = trunk
    c.add(s0, "start", caller.uid, rows.body(c.tok, caller.uid, Phone=phone, CallType=c.ct(0),
        Trunk=trunk))
    c.callerid(s0, View(caller, (phone, name), UNKNOWN), "from-out-office", trunk)
    t = s0 + c.rng.randint(0, 1)
    for i, group in enumerate(groups):
        if i:
            t += c.rng.randint(8, 25)
        c.dial(t, caller.uid, DialRow(phone, encode_exts(c.rng, group), 0, trunk, ext_phone=phone))
    return caller, t


def answer_call(c: Conv, t: int, calling: Side, answering: Side, trunk: str) -> tuple[str, int]:
    """The agent answers: a new bridge with the caller; returns (bridge, t)."""
    (caller, caller_p), (agent, agent_p) = calling, answering
    randint = c.rng.randint
    t += randint(2, 20)
    buid = c.create(t)
    t += randint(0, 2)
    c.bridge(t, View(caller, caller_p, agent_p), buid, exten=trunk)
    t += randint(0, 2)
    c.bridge(t, View(agent, agent_p, caller_p), buid)
    return buid, t


def hang_up_bridge(c: Conv, t: int, talk: Talk) -> None:
    """Both parties leave the bridge and it is destroyed."""
    (caller, caller_p), (holder, holder_p), buid = talk
    c.leave(t, View(holder, holder_p, caller_p), buid, 1)
    c.leave(t, View(caller, caller_p, holder_p), buid, 0)
    c.destroy(t, buid)


def attended_hop(c: Conv, t: int, talk: Talk, target_p: Party) -> tuple[Leg, str, int]:
    """The holder of ``talk`` consults ``target_p`` over a Local channel and hands the caller
    over (2-18).

    Returns (the target's desk-phone leg, the bridge where the caller now talks, t). Two
    recorded variants: the caller moves into the consultation bridge, or the target moves into
    the caller's bridge. The Local ``;2`` half ends with a CallType 2 hangup, Phone = the
    caller, Extensions = [target].
    """
    (caller, caller_p), (holder, holder_p), talk_bridge = talk
    target, target_name = target_p
    randint = c.rng.randint
    consult = t
    hold = c.create(t)
    c.bridge(t, View(holder, holder_p, caller_p), hold)
    one, two = c.local(consult, target, "dialexecute")
    t_leg = c.sip(consult, target)
    tgt_p: Party = (target, target_name)
    t += randint(1, 2)
    c.callerid(t, View(two, (holder_p[0], "<unknown>"), UNKNOWN), "dialexecute", target)
    c.callerid(t, View(one, (target, "<unknown>"), (holder_p[0], "<unknown>")), "dialexecute",
        target)
    t += randint(2, 15)
    side = c.create(t)
    t += randint(0, 1)
    c.bridge(t, View(two, (holder_p[0], ""), tgt_p), side, exten=target)
    t += randint(1, 3)
    c.bridge(t, View(t_leg, tgt_p, (holder_p[0], "")), side)
    t += randint(3, 60)
    moved = t
    c.leave(t, View(holder, holder_p, tgt_p), hold, 1)
    c.leave(t, View(one, (target, "<unknown>"), (holder_p[0], "<unknown>")), hold, 0)
    if c.rng.random() < 0.5:  # the caller moves to the target's bridge
        t += randint(1, 2)
        c.bridge(t, View(one, (target, ""), (holder_p[0], "<unknown>")), talk_bridge, exten=target)
        c.destroy(t, hold)
        t += 1
        c.leave(t, View(caller, caller_p, (holder_p[0], "<unknown>")), talk_bridge, 1)
        t += 1
        c.bridge(t, View(caller, caller_p, tgt_p), side, exten=c.trunk)
        t += 1
        c.leave(t, View(two, (holder_p[0], "<unknown>"), tgt_p), side, 2)
        c.callerid(t, View(two, caller_p, tgt_p), "dialexecute", target)
        c.hangup(t + randint(1, 3), two.uid, HangupRow(phone=caller_p[0], exts=[target], ct=2,
            received=consult, start=None, end=moved, status="2", trunk=None))
        t += randint(2, 4)
        c.leave(t, View(one, (target, "<unknown>"), (holder_p[0], "<unknown>")), talk_bridge, 0)
        c.destroy(t, talk_bridge)
        return t_leg, side, t
    t += randint(1, 2)  # the target moves into the caller's bridge
    c.bridge(t, View(one, (target, ""), (holder_p[0], "<unknown>")), talk_bridge, exten=target)
    c.destroy(t, hold)
    t += 1
    c.leave(t, View(t_leg, tgt_p, (holder_p[0], "<unknown>")), side, 1)
    t += randint(1, 2)
    c.bridge(t, View(t_leg, (target, ""), caller_p), talk_bridge)
    c.leave(t, View(one, (target, "<unknown>"), (holder_p[0], "<unknown>")), talk_bridge, 2)
    t += 1
    c.leave(t, View(two, (holder_p[0], "<unknown>"), tgt_p), side, 0)
    c.callerid(t, View(two, caller_p, tgt_p), "dialexecute", target)
    t += 1
    c.destroy(t, side)
    c.hangup(t + randint(1, 3), two.uid, HangupRow(phone=caller_p[0], exts=[target], ct=2,
        received=consult, start=None, end=moved, status="2", trunk=None))
    return t_leg, talk_bridge, t


def internal_rows(
    c: Conv, s0: int, caller_ext: str, callee: str, misleading: bool,
) -> tuple[Leg, Leg, str, int]:
    """An extension dials a colleague who answers; returns (caller leg, callee leg, bridge, t)."""
    randint = c.rng.randint
    if misleading:
        c.extra = {"ExternalInitiated": True}
    ct = 0 if misleading else 2
    me = c.sip(s0, caller_ext)
    c.dial(s0, me.uid, DialRow(caller_ext, encode_exts(c.rng, [callee]), ct, ""))
    c.callerid(s0, View(me, (caller_ext, c.rng.choice(NAMES)), (callee, "")), "from-internal",
        callee)
    them = c.sip(s0, callee)
    t = s0 + randint(2, 15)
    buid = c.create(t)
    c.bridge(t, View(me, (caller_ext, ""), (callee, "")), buid, exten=callee)
    t += randint(0, 1)
    c.bridge(t, View(them, (callee, ""), (caller_ext, "")), buid)
    return me, them, buid, t
