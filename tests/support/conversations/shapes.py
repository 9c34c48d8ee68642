"""Conversations built row by row in the test, in the shapes of SPEC §2.3 (channels, bridges,
Local halves with consecutive UniqueIds, the hangups each leg leaves). Rows and bodies come from
the one Listen_AMI row builder (``asterisk_pipeline.devtools.rows``)."""
from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from asterisk_pipeline.devtools import rows as listen_ami
from asterisk_pipeline.devtools.rows import Row

TOKEN = "375000000003"
TRUNK = "0001363"


class Pbx:
    """Writes rows in time order; every channel gets its UniqueId ``<epoch>.<seq>``."""

    def __init__(self, start: str = "2025-07-03 10:00:00", epoch: int = 1751526000) -> None:
        self.t0 = datetime.fromisoformat(start)
        self.epoch = epoch
        self.seq = itertools.count(1)
        self.counter = itertools.count(1)
        self.rows: list[tuple[float, int, Row]] = []
        self.order = itertools.count()

    def uid(self, at: float) -> str:
        return f"{self.epoch + int(at)}.{next(self.seq)}"

    def chan(self, resource: str) -> str:
        return f"SIP/{resource}-{next(self.counter):08x}"

    def local(self, target: str, context: str = "dialexecute") -> tuple[str, str]:
        base = f"Local/{target}@{context}-{next(self.counter):08x}"
        return f"{base};1", f"{base};2"

    def when(self, at: float) -> str:
        return listen_ami.timestamp(self.t0 + timedelta(seconds=at))

    def add(self, at: float, event: str, uid: str, status: str = "<Response [200]>", **fields: Any) -> None:
        body = listen_ami.event_body(TOKEN, event, uid, **fields)
        self.rows.append((at, next(self.order), listen_ami.row(self.when(at), event, uid, body, status)))

    # -- building blocks ------------------------------------------------------------------------

    def start(self, at: float, uid: str, phone: str, chan: str, trunk: str = TRUNK) -> None:
        self.add(at, "start", uid, Phone=phone, CallType=0, Trunk=trunk)
        self.add(at, "new_callerid", uid, Channel=chan, CallerIDNum=phone, ConnectedLineNum="<unknown>",
                 Exten=trunk, Context="from-out-office")

    def dial(self, at: float, uid: str, phone: str, targets: list[str], call_type: int = 0,
             trunk: str = TRUNK) -> None:
        self.add(at, "dial", uid, Phone=phone, Extensions=targets, CallType=call_type, Trunk=trunk,
                 ExtTrunk="", ExtPhone="")

    def bridge(self, at: float, uid: str, chan: str, caller: str, connected: str, bridge: str,
               with_id: bool = True) -> None:
        extra = {"BridgeUniqueid": bridge} if with_id else {}
        self.add(at, "bridge", uid, Channel=chan, CallerIDNum=caller, ConnectedLineNum=connected,
                 Exten="", **extra)

    def leave(self, at: float, uid: str, chan: str, caller: str, connected: str, bridge: str) -> None:
        self.add(at, "bridge_leave", uid, Channel=chan, CallerIDNum=caller, ConnectedLineNum=connected,
                 BridgeUniqueid=bridge, BridgeNumChannels="1")

    def hangup(self, at: float, uid: str, *, phone: str, extensions: list[str], call_type: int,
               status: str, start: float, trunk: str | None = TRUNK, **extra: Any) -> None:
        fields: dict[str, Any] = {
            "Phone": phone, "Extensions": extensions, "CallType": call_type, "CallStatus": status,
            "DateReceived": self.when(start), "StartTime": self.when(start), "EndTime": self.when(at),
            **extra,
        }
        if trunk is not None:
            fields["Trunk"] = trunk
        self.add(at + 3, "hangup", uid, **fields)

    @staticmethod
    def new_bridge() -> str:
        return str(uuid.uuid4())

    def sorted_rows(self, strip_bridge_ids: bool = False) -> list[Row]:
        out = []
        for _, _, row in sorted(self.rows, key=lambda r: (r[0], r[1])):
            if strip_bridge_ids and row[1] == "bridge":
                body = json.loads(row[3])
                body.pop("BridgeUniqueid", None)
                row = listen_ami.row(row[0], row[1], row[2], body, row[4])
            out.append(row)
        return out


# ---------------------------------------------------------------------------------------------
# Shapes: each adds one conversation (or two, where the shape is about keeping them apart) and
# returns what an operator would answer.


def answered_incoming(pbx: Pbx, at: float, phone: str, agent: str, talk: float = 30,
                      group: list[str] | None = None) -> dict[str, Any]:
    """A customer call rings a group (``group``, default 201 and ``agent``), ``agent`` answers on
    the desk phone; a group of one is a direct call."""
    c, a = pbx.uid(at), pbx.uid(at + 1)
    cc, ac = pbx.chan(TRUNK), pbx.chan(agent)
    b = pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    rung = ["201", agent] if group is None else group
    pbx.dial(at + 0.5, c, phone, rung)
    pbx.bridge(at + 5, c, cc, phone, agent, b)
    pbx.bridge(at + 5, a, ac, agent, phone, b)
    pbx.leave(at + 5 + talk, a, ac, agent, phone, b)
    pbx.leave(at + 5 + talk, c, cc, phone, agent, b)
    pbx.hangup(at + 5 + talk, c, phone=phone, extensions=[agent], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a},
            "shape": "group" if len(set(rung)) > 1 else "direct", "links": {c: "primary", a: "bridge"},
            "participants": {e: ("answered", 1) if e == agent else ("no_answer", None) for e in rung}}


def internal_call(pbx: Pbx, at: float, caller: str, callee: str, talk: float = 60,
                  misleading: bool = False) -> dict[str, Any]:
    """Extension to extension; ``misleading``: CallType 0 and ExternalInitiated on every row."""
    u, v = pbx.uid(at), pbx.uid(at + 1)
    uc, vc = pbx.chan(caller), pbx.chan(callee)
    b = pbx.new_bridge()
    kind = 0 if misleading else 2
    extra = {"ExternalInitiated": True} if misleading else {}
    pbx.add(at, "new_callerid", u, Channel=uc, CallerIDNum=caller, ConnectedLineNum=callee, **extra)
    pbx.add(at + 0.5, "dial", u, Phone=caller, Extensions=[callee], CallType=kind, Trunk="", **extra)
    pbx.bridge(at + 3, u, uc, caller, callee, b)
    pbx.bridge(at + 3, v, vc, callee, caller, b)
    pbx.leave(at + 3 + talk, v, vc, callee, caller, b)
    pbx.leave(at + 3 + talk, u, uc, caller, callee, b)
    pbx.hangup(at + 3 + talk, u, phone=caller, extensions=[callee], call_type=kind, status="2",
               start=at, trunk=None, **extra)
    return {"primary": u, "direction": "2", "chain": [callee], "legs": {u, v}, "shape": "internal",
            "links": {u: "primary", v: "bridge"}, "participants": {callee: ("answered", 1)}}


def blind_transfer_to_busy(pbx: Pbx, at: float, phone: str, agent: str, busy: str) -> dict[str, Any]:
    """``agent`` answers, blind-transfers to ``busy`` who is on another call; the caller stays."""
    c, a = pbx.uid(at), pbx.uid(at + 1)
    cc, ac = pbx.chan(TRUNK), pbx.chan(agent)
    b = pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, [agent])
    pbx.bridge(at + 4, c, cc, phone, agent, b)
    pbx.bridge(at + 4, a, ac, agent, phone, b)
    pbx.leave(at + 40, a, ac, agent, phone, b)
    pbx.leave(at + 40, c, cc, phone, agent, b)
    pbx.hangup(at + 41, c, phone=phone, extensions=[busy], call_type=2, status="0", start=at)
    return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a}, "shape": "group",
            "links": {c: "primary", a: "bridge"},
            "participants": {agent: ("answered", 1), busy: ("no_answer", None)}}


def forwarded_to_mobile(pbx: Pbx, at: float, phone: str, desk: str, mobile: str,
                        answered_on_mobile: bool = False) -> dict[str, Any]:
    """FollowMe: rings ``desk`` and, over a Local channel, the mobile; one of them answers."""
    c = pbx.uid(at)
    cc = pbx.chan(TRUNK)
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, [desk, mobile])
    one_name, two_name = pbx.local(mobile, "179e93af")
    one, two = pbx.uid(at + 2), pbx.uid(at + 2)
    pbx.add(at + 2, "new_callerid", one, Channel=one_name, CallerIDNum=TRUNK, ConnectedLineNum=phone)
    pbx.add(at + 2, "new_callerid", two, Channel=two_name, CallerIDNum=phone, ConnectedLineNum=TRUNK)
    pbx.dial(at + 2, two, mobile, [phone], call_type=1)
    b = pbx.new_bridge()
    legs = {c, one, two}
    if answered_on_mobile:
        out = pbx.uid(at + 3)
        oc = pbx.chan("0001366")
        pbx.bridge(at + 8, c, cc, phone, mobile, b)
        pbx.bridge(at + 8, one, one_name, TRUNK, phone, b)
        b2 = pbx.new_bridge()
        pbx.bridge(at + 8, two, two_name, phone, mobile, b2)
        pbx.bridge(at + 8, out, oc, mobile, phone, b2)
        pbx.leave(at + 50, out, oc, mobile, phone, b2)
        pbx.leave(at + 50, two, two_name, phone, mobile, b2)
        pbx.leave(at + 50, one, one_name, TRUNK, phone, b)
        pbx.leave(at + 50, c, cc, phone, mobile, b)
        pbx.hangup(at + 50, two, phone=mobile, extensions=[phone], call_type=1, status="2", start=at + 2)
        pbx.hangup(at + 51, c, phone=phone, extensions=[mobile], call_type=0, status="2", start=at)
        return {"primary": c, "direction": "0", "chain": [mobile], "legs": legs | {out}, "shape": "followme",
                "links": {c: "primary", one: "local", two: "local", out: "bridge"},
                "participants": {desk: ("no_answer", None), mobile: ("answered", 1)}}
    dc = pbx.chan(desk)
    d = pbx.uid(at + 9)
    pbx.hangup(at + 9, two, phone=mobile, extensions=[phone], call_type=1, status="0", start=at + 2)
    pbx.bridge(at + 10, c, cc, phone, desk, b)
    pbx.bridge(at + 10, d, dc, desk, phone, b)
    pbx.leave(at + 40, d, dc, desk, phone, b)
    pbx.leave(at + 40, c, cc, phone, desk, b)
    pbx.hangup(at + 40, c, phone=phone, extensions=[desk], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": [desk], "legs": legs | {d}, "shape": "followme",
            "links": {c: "primary", one: "forwarding", two: "forwarding", d: "bridge"},
            "participants": {desk: ("answered", 1), mobile: ("no_answer", None)}}


def attended_transfer(pbx: Pbx, at: float, phone: str, hops: list[str]) -> dict[str, Any]:
    """The caller is answered by ``hops[0]``, who consults the next over a Local channel and
    hands the caller over; and so on (SPEC §2.3, like recorded call 2-18)."""
    c = pbx.uid(at)
    cc = pbx.chan(TRUNK)
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, list(hops))
    first = hops[0]
    a = pbx.uid(at + 1)
    ac = pbx.chan(first)
    main = pbx.new_bridge()
    pbx.bridge(at + 4, c, cc, phone, first, main)
    pbx.bridge(at + 5, a, ac, first, phone, main)
    legs = {c, a}
    links = {c: "primary", a: "bridge"}
    holder, holder_uid, holder_chan, t = first, a, ac, at + 20
    for nxt in hops[1:]:
        one_name, two_name = pbx.local(nxt)
        one, two = pbx.uid(t), pbx.uid(t)
        consult, target = pbx.new_bridge(), pbx.new_bridge()
        n = pbx.uid(t + 1)
        nc = pbx.chan(nxt)
        pbx.bridge(t, holder_uid, holder_chan, holder, phone, consult)  # the holder consults
        pbx.add(t, "new_callerid", two, Channel=two_name, CallerIDNum=holder, ConnectedLineNum="<unknown>")
        pbx.add(t, "new_callerid", one, Channel=one_name, CallerIDNum=nxt, ConnectedLineNum=holder)
        pbx.bridge(t + 3, two, two_name, holder, nxt, target)
        pbx.bridge(t + 4, n, nc, nxt, holder, target)
        pbx.leave(t + 8, holder_uid, holder_chan, holder, nxt, consult)
        pbx.leave(t + 8, one, one_name, nxt, holder, consult)
        pbx.bridge(t + 9, one, one_name, nxt, holder, main)
        pbx.leave(t + 10, c, cc, phone, holder, main)
        pbx.bridge(t + 11, c, cc, phone, nxt, target)
        pbx.leave(t + 12, two, two_name, holder, nxt, target)
        pbx.add(t + 12, "new_callerid", two, Channel=two_name, CallerIDNum=phone, ConnectedLineNum=nxt)
        pbx.hangup(t + 12, two, phone=phone, extensions=[nxt], call_type=2, status="2", start=t, trunk=None)
        pbx.leave(t + 13, one, one_name, nxt, holder, main)
        legs |= {one, two, n}
        links.update({one: "local", two: "local", n: "bridge"})
        holder, holder_uid, holder_chan, main, t = nxt, n, nc, target, t + 30
    pbx.leave(t, holder_uid, holder_chan, holder, phone, main)
    pbx.leave(t, c, cc, phone, holder, main)
    pbx.hangup(t, c, phone=phone, extensions=[first], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": list(hops), "legs": legs, "links": links,
            "shape": "transfer_attended",
            "participants": {e: ("answered", i) for i, e in enumerate(hops, start=1)}}


def unanswered_consultation(pbx: Pbx, at: float, phone: str, agent: str, consulted: str,
                            bridged: bool = False) -> dict[str, Any]:
    """``agent`` answers, tries ``consulted`` (who does not answer), and keeps the caller.

    ``bridged``: as the PBX records it (simulator, recorded call 2-18's first hop) — the agent's
    channel enters a consultation bridge that the Local ``;1`` half leaves when the attempt ends,
    so rule 1 links the consultation and its target rang ('no_answer'). Without it the Local
    halves are tied to no call (legs without a call), whoever else rings ``consulted``.
    """
    c, a = pbx.uid(at), pbx.uid(at + 1)
    cc, ac = pbx.chan(TRUNK), pbx.chan(agent)
    b = pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, [agent])
    pbx.bridge(at + 4, c, cc, phone, agent, b)
    pbx.bridge(at + 4, a, ac, agent, phone, b)
    one_name, two_name = pbx.local(consulted)
    one, two = pbx.uid(at + 10), pbx.uid(at + 10)
    hold = pbx.new_bridge()
    if bridged:
        pbx.bridge(at + 10, a, ac, agent, phone, hold)
    pbx.add(at + 10, "new_callerid", two, Channel=two_name, CallerIDNum=agent, ConnectedLineNum="<unknown>")
    pbx.add(at + 10, "new_callerid", one, Channel=one_name, CallerIDNum=consulted, ConnectedLineNum=agent)
    pbx.hangup(at + 25, two, phone=agent, extensions=[""], call_type=2, status="0", start=at + 10, trunk=None)
    if bridged:
        pbx.leave(at + 26, one, one_name, consulted, agent, hold)
        pbx.leave(at + 26, a, ac, agent, phone, hold)
        pbx.bridge(at + 27, a, ac, agent, phone, b)
    pbx.leave(at + 60, a, ac, agent, phone, b)
    pbx.leave(at + 60, c, cc, phone, agent, b)
    pbx.hangup(at + 60, c, phone=phone, extensions=[agent], call_type=0, status="2", start=at)
    if bridged:
        return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a, one, two},
                "shape": "consultation_unanswered",
                "links": {c: "primary", a: "bridge", one: "local", two: "local"},
                "participants": {agent: ("answered", 1), consulted: ("no_answer", None)}}
    return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a}, "shape": "direct",
            "links": {c: "primary", a: "bridge"}, "unlinked": {one, two},
            "participants": {agent: ("answered", 1)}}


def outgoing_call(pbx: Pbx, at: float, agent: str, number: str) -> dict[str, Any]:
    """A desk phone dials an outside number; the callee answers."""
    u, o = pbx.uid(at), pbx.uid(at + 1)
    uc, oc = pbx.chan(agent), pbx.chan(TRUNK)
    b = pbx.new_bridge()
    pbx.add(at, "new_callerid", u, Channel=uc, CallerIDNum=agent, ConnectedLineNum=number)
    pbx.dial(at + 0.5, u, number, [agent], call_type=1)
    pbx.bridge(at + 9, o, oc, number, agent, b)
    pbx.bridge(at + 9, u, uc, agent, number, b)
    pbx.leave(at + 70, o, oc, number, agent, b)
    pbx.leave(at + 70, u, uc, agent, number, b)
    pbx.hangup(at + 70, u, phone=number, extensions=[agent], call_type=1, status="2", start=at)
    return {"primary": u, "direction": "1", "chain": [agent], "legs": {u, o}, "shape": "outgoing",
            "links": {u: "primary", o: "bridge"}, "participants": {agent: ("answered", 1)}}


def ambiguous_forwarding(pbx: Pbx, mobile: str = "375290000002",
                         attempts: bool = False) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """Two open calls both ring the manager's mobile; one Local forwarding leg (cancelled) that
    the rows cannot tie to either (SPEC §4.2 rule 3). Returns both calls and the leg's UniqueIds.

    ``attempts``: the forward's failed trunk attempts (a ``new_callerid`` on an outside line,
    nothing else) — unlinked events, never legs (with or without a call)."""
    a = answered_incoming(pbx, 0, "375291110001", "150", talk=60)
    b = answered_incoming(pbx, 1, "375291110002", "151", talk=60)
    for item, at in ((a, 0.6), (b, 1.6)):
        pbx.dial(at, item["primary"], "x", ["201", mobile])
        item["shape"] = "followme"  # the forwarding target rang (answered on a desk phone)
        item["participants"] = {**item["participants"], mobile: ("no_answer", None)}
    one_name, two_name = pbx.local(mobile, "179e93af")
    one, two = pbx.uid(3), pbx.uid(3)
    pbx.add(3, "new_callerid", one, Channel=one_name, CallerIDNum=TRUNK, ConnectedLineNum="375291110001")
    pbx.add(3, "new_callerid", two, Channel=two_name, CallerIDNum="375291110001", ConnectedLineNum=TRUNK)
    pbx.dial(3, two, mobile, ["375291110001"], call_type=1)
    if attempts:
        a["attempts"] = trunk_attempts(pbx, 3, mobile, "375291110001", [TRUNK])
    pbx.hangup(9, two, phone=mobile, extensions=["375291110001"], call_type=1, status="0", start=3)
    return a, b, {one, two}


def trunk_attempts(pbx: Pbx, at: float, mobile: str, caller: str, lines: list[str]) -> set[str]:
    """Failed trunk attempts of a forward: each only a ``new_callerid`` of an outside line."""
    made = set()
    for line in lines:
        uid = pbx.uid(at)
        pbx.add(at, "new_callerid", uid, Channel=pbx.chan(line), CallerIDNum=mobile, ConnectedLineNum=caller,
                Exten=mobile, Context="from-out-office")
        made.add(uid)
    return made


def followme_after_transfer(pbx: Pbx, at: float, phone: str, agent: str, desk: str, mobile: str,
                            far_end: bool = True) -> dict[str, Any]:
    """``agent`` answers and transfers the caller to FollowMe, which rings the desk phone
    ``desk`` and, over a Local channel, the mobile; the mobile answers. The caller's last
    ``bridge_leave`` still names the desk phone (the connected line FollowMe set while it rang):
    the desk phone's own channel never entered a bridge, so it never held the call (SPEC §4.2).
    ``far_end``: the mobile's outside line is recorded (else the Local target stands for it)."""
    c, a = pbx.uid(at), pbx.uid(at + 1)
    cc, ac = pbx.chan(TRUNK), pbx.chan(agent)
    b1 = pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, [agent])
    pbx.bridge(at + 4, c, cc, phone, agent, b1)
    pbx.bridge(at + 4, a, ac, agent, phone, b1)
    pbx.leave(at + 20, a, ac, agent, phone, b1)
    pbx.leave(at + 20, c, cc, phone, agent, b1)
    pbx.dial(at + 21, c, phone, [desk, mobile])  # the blind transfer reaches FollowMe
    one_name, two_name = pbx.local(mobile, "followme")
    one, two = pbx.uid(at + 21), pbx.uid(at + 21)
    pbx.add(at + 21, "new_callerid", one, Channel=one_name, CallerIDNum=TRUNK, ConnectedLineNum=phone)
    pbx.add(at + 21, "new_callerid", two, Channel=two_name, CallerIDNum=phone, ConnectedLineNum=TRUNK)
    pbx.dial(at + 21, two, mobile, [phone], call_type=1)
    legs = {c, a, one, two}
    links = {c: "primary", a: "bridge", one: "local", two: "local"}  # Local halves: rule 2
    b2 = pbx.new_bridge()
    pbx.bridge(at + 30, c, cc, phone, "<unknown>", b2)
    pbx.bridge(at + 30, one, one_name, TRUNK, phone, b2)
    if far_end:
        out, oc = pbx.uid(at + 22), pbx.chan("0001366")
        pbx.add(at + 22, "new_callerid", out, Channel=oc, CallerIDNum=mobile, ConnectedLineNum=phone)
        b3 = pbx.new_bridge()
        pbx.bridge(at + 30, two, two_name, phone, mobile, b3)
        pbx.bridge(at + 30, out, oc, mobile, phone, b3)
        pbx.leave(at + 90, out, oc, mobile, phone, b3)
        pbx.leave(at + 90, two, two_name, phone, mobile, b3)
        legs.add(out)
        links[out] = "bridge"
    pbx.leave(at + 90, one, one_name, TRUNK, phone, b2)
    pbx.leave(at + 90, c, cc, phone, desk, b2)  # stale: FollowMe rang the desk phone first
    pbx.hangup(at + 90, two, phone=mobile, extensions=[phone], call_type=1, status="2", start=at + 21)
    pbx.hangup(at + 90, c, phone=phone, extensions=[agent], call_type=0, status="2", start=at)
    # two holders: a transfer first (the caller's own channel dialled on: blind), FollowMe second
    return {"primary": c, "direction": "0", "chain": [agent, mobile], "legs": legs, "links": links,
            "shape": "transfer_blind",
            "participants": {agent: ("answered", 1), desk: ("no_answer", None), mobile: ("answered", 2)}}


def blind_transfer(pbx: Pbx, at: float, phone: str, agent: str, target: str) -> dict[str, Any]:
    """``agent`` answers and blind-transfers: the caller's own channel dials ``target``, who
    answers (SPEC §2.3: the primary's hangup then says CallType 2, Extensions = [target])."""
    c, a, t = pbx.uid(at), pbx.uid(at + 1), pbx.uid(at + 30)
    cc, ac, tc = pbx.chan(TRUNK), pbx.chan(agent), pbx.chan(target)
    b1, b2 = pbx.new_bridge(), pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, [agent])
    pbx.bridge(at + 4, c, cc, phone, agent, b1)
    pbx.bridge(at + 4, a, ac, agent, phone, b1)
    pbx.leave(at + 25, a, ac, agent, phone, b1)
    pbx.leave(at + 25, c, cc, phone, agent, b1)
    pbx.dial(at + 26, c, phone, [target], call_type=2, trunk="")
    pbx.bridge(at + 35, c, cc, phone, target, b2)
    pbx.bridge(at + 35, t, tc, target, phone, b2)
    pbx.leave(at + 80, t, tc, target, phone, b2)
    pbx.leave(at + 80, c, cc, phone, target, b2)
    pbx.hangup(at + 80, c, phone=phone, extensions=[target], call_type=2, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": [agent, target], "legs": {c, a, t},
            "shape": "transfer_blind", "links": {c: "primary", a: "bridge", t: "bridge"},
            "participants": {agent: ("answered", 1), target: ("answered", 2)}}


def unanswered_incoming(pbx: Pbx, at: float, phone: str, group: list[str]) -> dict[str, Any]:
    """A customer call rings a group; nobody answers (no bridge rows: the PBX status decides)."""
    c = pbx.uid(at)
    pbx.start(at, c, phone, pbx.chan(TRUNK))
    pbx.dial(at + 0.5, c, phone, group)
    pbx.hangup(at + 25, c, phone=phone, extensions=group, call_type=0, status="0", start=at)
    return {"primary": c, "direction": "0", "chain": [], "legs": {c}, "shape": "unanswered",
            "links": {c: "primary"}, "participants": {e: ("no_answer", None) for e in group}}
