"""Conversations built row by row in the test, in the shapes of SPEC §2.3 (channels, bridges,
Local halves with consecutive UniqueIds, the hangups each leg leaves)."""
from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

Row = tuple[str, str, str, str, str]  # DateTime, event, Uniqueid, request, status
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
        return (self.t0 + timedelta(seconds=at)).strftime("%Y-%m-%d %H:%M:%S")

    def add(self, at: float, event: str, uid: str, status: str = "<Response [200]>", **fields: Any) -> None:
        body = {"Token": "375000000003", **fields}
        if event not in ("bridge_create", "bridge_destroy"):
            body["UniqueId"] = uid
        self.rows.append((at, next(self.order), (self.when(at), event, uid, json.dumps(body), status)))

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
                row = (row[0], row[1], row[2], json.dumps(body), row[4])
            out.append(row)
        return out


# ---------------------------------------------------------------------------------------------
# Shapes: each adds one conversation (or two, where the shape is about keeping them apart) and
# returns what an operator would answer.


def answered_incoming(pbx: Pbx, at: float, phone: str, agent: str, talk: float = 30) -> dict[str, Any]:
    """A customer call rings a group, ``agent`` answers on the desk phone."""
    c, a = pbx.uid(at), pbx.uid(at + 1)
    cc, ac = pbx.chan(TRUNK), pbx.chan(agent)
    b = pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, ["201", agent])
    pbx.bridge(at + 5, c, cc, phone, agent, b)
    pbx.bridge(at + 5, a, ac, agent, phone, b)
    pbx.leave(at + 5 + talk, a, ac, agent, phone, b)
    pbx.leave(at + 5 + talk, c, cc, phone, agent, b)
    pbx.hangup(at + 5 + talk, c, phone=phone, extensions=[agent], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a}}


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
    return {"primary": u, "direction": "2", "chain": [callee], "legs": {u, v}}


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
    return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a}}


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
        return {"primary": c, "direction": "0", "chain": [mobile], "legs": legs | {out}}
    dc = pbx.chan(desk)
    d = pbx.uid(at + 9)
    pbx.hangup(at + 9, two, phone=mobile, extensions=[phone], call_type=1, status="0", start=at + 2)
    pbx.bridge(at + 10, c, cc, phone, desk, b)
    pbx.bridge(at + 10, d, dc, desk, phone, b)
    pbx.leave(at + 40, d, dc, desk, phone, b)
    pbx.leave(at + 40, c, cc, phone, desk, b)
    pbx.hangup(at + 40, c, phone=phone, extensions=[desk], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": [desk], "legs": legs | {d}}


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
        holder, holder_uid, holder_chan, main, t = nxt, n, nc, target, t + 30
    pbx.leave(t, holder_uid, holder_chan, holder, phone, main)
    pbx.leave(t, c, cc, phone, holder, main)
    pbx.hangup(t, c, phone=phone, extensions=[first], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": list(hops), "legs": legs}


def unanswered_consultation(pbx: Pbx, at: float, phone: str, agent: str, consulted: str) -> dict[str, Any]:
    """``agent`` answers, tries ``consulted`` (who does not answer), and keeps the caller."""
    c, a = pbx.uid(at), pbx.uid(at + 1)
    cc, ac = pbx.chan(TRUNK), pbx.chan(agent)
    b = pbx.new_bridge()
    pbx.start(at, c, phone, cc)
    pbx.dial(at + 0.5, c, phone, [agent])
    pbx.bridge(at + 4, c, cc, phone, agent, b)
    pbx.bridge(at + 4, a, ac, agent, phone, b)
    one_name, two_name = pbx.local(consulted)
    one, two = pbx.uid(at + 10), pbx.uid(at + 10)
    pbx.add(at + 10, "new_callerid", two, Channel=two_name, CallerIDNum=agent, ConnectedLineNum="<unknown>")
    pbx.add(at + 10, "new_callerid", one, Channel=one_name, CallerIDNum=consulted, ConnectedLineNum=agent)
    pbx.hangup(at + 25, two, phone=agent, extensions=[""], call_type=2, status="0", start=at + 10, trunk=None)
    pbx.leave(at + 60, a, ac, agent, phone, b)
    pbx.leave(at + 60, c, cc, phone, agent, b)
    pbx.hangup(at + 60, c, phone=phone, extensions=[agent], call_type=0, status="2", start=at)
    return {"primary": c, "direction": "0", "chain": [agent], "legs": {c, a},
            "unlinked": {one, two}}


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
    return {"primary": u, "direction": "1", "chain": [agent], "legs": {u, o}}


def ambiguous_forwarding(pbx: Pbx, mobile: str = "375290000002") -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """Two open calls both ring the manager's mobile; one Local forwarding leg (cancelled) that
    the rows cannot tie to either (SPEC §4.2 rule 3). Returns both calls and the leg's UniqueIds."""
    a = answered_incoming(pbx, 0, "375291110001", "150", talk=60)
    b = answered_incoming(pbx, 1, "375291110002", "151", talk=60)
    for item, at in ((a, 0.6), (b, 1.6)):
        pbx.dial(at, item["primary"], "x", ["201", mobile])
    one_name, two_name = pbx.local(mobile, "179e93af")
    one, two = pbx.uid(3), pbx.uid(3)
    pbx.add(3, "new_callerid", one, Channel=one_name, CallerIDNum=TRUNK, ConnectedLineNum="375291110001")
    pbx.add(3, "new_callerid", two, Channel=two_name, CallerIDNum="375291110001", ConnectedLineNum=TRUNK)
    pbx.dial(3, two, mobile, ["375291110001"], call_type=1)
    pbx.hangup(9, two, phone=mobile, extensions=["375291110001"], call_type=1, status="0", start=3)
    return a, b, {one, two}
