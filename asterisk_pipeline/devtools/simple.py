"""One-UniqueId calls (shape ``"simple"``): incoming, outgoing and internal, answered or not,
with the encodings and second hangups real files show."""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, NamedTuple

from . import rows
from .calls import (
    ANSWERED_SHARE,
    LAST_SECOND,
    SimCall,
    SimEvent,
    epoch_of_midnight,
    norm_exts,
    participants_of,
    shape_of,
)
from .dialplan import NAMES, Draft, bridge_id, caller_phone, encode_exts
from .dirt import Victim, add_dirt
from .rows import day_timestamps


class _Line(NamedTuple):
    """Who a one-UniqueId call connects and how its rows name them (drawn before any row)."""

    tok: str
    uid: str
    ts: Sequence[str]
    s0: int
    ct: int
    ct_val: Any  # CallType as the rows write it: int or text
    phone: str
    trunk: str | None
    dials: list[list[str]]  # ring groups in order
    answerer: str
    exten: str
    context: str
    caller_name: str
    ext_name: str
    chan_out: str
    chan_in: str
    extensions: tuple[str, ...]  # the PBX's

    def row(self, **fields: Any) -> dict[str, Any]:
        return rows.body(self.tok, self.uid, **fields)


def build_call(d: Draft, answered_share: float = ANSWERED_SHARE) -> SimCall:
    """All events of one call starting at local second ``d.s0``, time-ordered, plus dirty extras.

    The steps draw from ``d.rng`` in a fixed order (the output is seeded): kind, parties, ring
    groups, then the answered or unanswered bridge rows, then the final hangup.
    """
    rng, day, s0 = d.rng, d.day, d.s0
    uid = f"{epoch_of_midnight(day) + s0}.{d.seq}"
    ct, ct_val, answered, status = _draw_kind(rng, answered_share)
    line = _draw_line(d, uid, ct, ct_val)
    ev: list[SimEvent] = []
    t, dialled = _ring(rng, line, ev)
    t += rng.randint(2, 45)
    intermediate = rng.random() < 0.15
    if answered:
        end, hangup_exts = _answered_rows(rng, line, ev, t, intermediate)
    else:
        end, hangup_exts = _unanswered_rows(rng, line, ev, t, intermediate)
    ev.append(_final_hangup(rng, line, hangup_exts, end, status))
    if d.dirty_p > 0.0:
        ev = add_dirt(rng, ev, Victim(line.tok, uid, line.phone, day), d.dirty_p)
    chain = (line.answerer,) if answered else ()
    people = participants_of(dialled, norm_exts(hangup_exts), chain, (), line.phone)
    return SimCall(uid, day, ct, status, answered, s0, end, norm_exts(hangup_exts), tuple(ev),
                   transfer_chain=chain, phone=line.phone,
                   call_shape=shape_of("simple", str(ct), chain, len(people)),
                   links=((uid, "primary"),), participants=people)


def _draw_kind(rng: random.Random, answered_share: float) -> tuple[int, Any, bool, str]:
    """(CallType, its encoding, answered, final CallStatus)."""
    r = rng.random
    x = r()
    ct = 0 if x < 0.6 else (1 if x < 0.9 else 2)
    ct_val: Any = ct if r() < 0.5 else str(ct)
    answered = r() < answered_share
    if answered:
        return ct, ct_val, answered, "2"
    y = r()
    status = "0" if y < 0.8 else ("1" if y < 0.88 else ("5" if y < 0.92 else ""))
    return ct, ct_val, answered, status


def _draw_line(d: Draft, uid: str, ct: int, ct_val: Any) -> _Line:
    """The parties of an incoming (0), outgoing (1) or internal (2) call and their channels."""
    rng, pbx = d.rng, d.pbx
    r = rng.random
    exts = pbx.extensions
    trunk: str | None
    if ct == 0:
        y = r()
        odd_phones = ("", "<unknown>", "Anonymous")
        phone = caller_phone(rng, d.state) if y < 0.9 else odd_phones[int(y * 1000) % 3]
        trunk = rng.choice(pbx.trunks)
        groups = 1 if r() < 0.4 else (2 if r() < 0.6 else 3)
        dials = [rng.sample(exts, min(len(exts), rng.randint(1, 3))) for _ in range(groups)]
        answerer = rng.choice(dials[-1])
        exten = rng.choice(pbx.dids)
        context = "from-trunk"
    elif ct == 1:
        answerer = rng.choice(exts)
        phone = caller_phone(rng, d.state)
        trunk = rng.choice(pbx.trunks)
        dials = [[answerer]]
        exten = phone
        context = "from-internal"
    else:
        caller, answerer = rng.sample(exts, 2)
        phone = caller
        trunk = None
        dials = [[answerer]]
        exten = answerer
        context = "from-internal"
    caller_name = rng.choice(NAMES) if r() < 0.6 else phone
    ext_name = rng.choice(NAMES)
    chan_out = f"SIP/{trunk or phone}-{rng.getrandbits(32):08x}"
    chan_in = f"SIP/{answerer}-{rng.getrandbits(32):08x}"
    return _Line(pbx.token, uid, day_timestamps(d.day), d.s0, ct, ct_val, phone, trunk, dials,
                 answerer, exten, context, caller_name, ext_name, chan_out, chan_in, exts)


def _ring(
    rng: random.Random, line: _Line, ev: list[SimEvent],
) -> tuple[int, list[tuple[str, ...]]]:
    """The start row (incoming) and one dial row per ring group; returns (t, dialled groups)."""
    r, randint = rng.random, rng.randint
    phone, trunk = line.phone, line.trunk
    dialled: list[tuple[str, ...]] = []
    t = line.s0
    if line.ct == 0:
        ev.append(SimEvent(t, "start", line.uid, line.row(Phone=phone,
            CallType=0 if r() < 0.5 else "0", Trunk=trunk)))
        t += randint(0, 2)
    for i, group in enumerate(line.dials):
        if i:
            t += randint(8, 30)
        dial_exts = encode_exts(rng, group) if r() >= 0.03 else ([""] if r() < 0.5 else [])
        body = line.row(Phone=phone, Extensions=dial_exts, CallType=line.ct_val,
            Trunk=trunk or "", ExtTrunk="", ExtPhone="")
        if line.ct == 1 and r() < 0.3:
            body["ExternalInitiated"] = True
        ev.append(SimEvent(min(t, LAST_SECOND), "dial", line.uid, body))
        dialled.append(norm_exts(dial_exts))
        if r() < 0.7:  # the PBX updates the connected line for every ring group
            t += randint(0, 1)
            ev.append(SimEvent(min(t, LAST_SECOND), "new_callerid", line.uid, line.row(
                Channel=line.chan_out, CallerIDNum=phone, CallerIDName=line.caller_name,
                ConnectedLineNum=group[0], ConnectedLineName=line.ext_name,
                Context=line.context, Exten=line.exten)))
    return t, dialled


def _answered_rows(
    rng: random.Random, line: _Line, ev: list[SimEvent], t: int, intermediate: bool,
) -> tuple[int, list[str]]:
    """The bridge of an answered call and its end; returns (end second, hangup Extensions)."""
    r, randint = rng.random, rng.randint
    tok, uid, phone, answerer = line.tok, line.uid, line.phone, line.answerer
    caller_name, ext_name = line.caller_name, line.ext_name
    buid = bridge_id(rng)
    bt = min(t, LAST_SECOND)
    ev.append(SimEvent(bt, "bridge_create", "", bridge_body(tok, buid, "0")))
    ans_num = answerer if r() >= 0.03 else f"{answerer} "
    b_caller = line.row(Channel=line.chan_out, Exten=line.exten, CallerIDNum=phone,
        CallerIDName=caller_name, ConnectedLineNum=answerer, ConnectedLineName=ext_name)
    b_agent = line.row(Channel=line.chan_in, Exten=line.exten, CallerIDNum=ans_num,
        CallerIDName=ext_name, ConnectedLineNum=phone, ConnectedLineName=caller_name)
    pair = (b_caller, b_agent) if r() < 0.5 else (b_agent, b_caller)
    for b in pair:
        ev.append(SimEvent(bt, "bridge", uid, b, {"BridgeUniqueid": buid}))
    if r() < 0.8:  # connected line of the answering party
        ev.append(SimEvent(bt, "new_callerid", uid, line.row(Channel=line.chan_in,
            CallerIDNum=answerer, CallerIDName=ext_name, ConnectedLineNum=phone,
            ConnectedLineName=caller_name, Context="macro-dial-one", Exten="s")))
    t += min(3600, int(rng.expovariate(1 / 150)) + 1)
    t_mid = randint(bt, t) if intermediate else t
    end = min(t, LAST_SECOND)
    if intermediate:
        ev.append(_intermediate_hangup(rng, line, line.dials[0], t_mid))
    for n, (chan, num, name, cnum, cname) in enumerate((
        (line.chan_out, phone, caller_name, answerer, ext_name),
        (line.chan_in, answerer, ext_name, phone, caller_name),
    )):
        ev.append(SimEvent(end, "bridge_leave", uid, line.row(Channel=chan,
            CallerIDNum=num, CallerIDName=name, ConnectedLineNum=cnum, ConnectedLineName=cname,
            BridgeUniqueid=buid, BridgeNumChannels=str(1 - n))))
    ev.append(SimEvent(end, "bridge_destroy", "", bridge_body(tok, buid, "0")))
    hangup_exts: list[str] = [answerer]
    if r() < 0.05:
        hangup_exts.append(rng.choice(line.extensions))
    if r() < 0.01:
        hangup_exts = []
    return end, hangup_exts


def _unanswered_rows(
    rng: random.Random, line: _Line, ev: list[SimEvent], t: int, intermediate: bool,
) -> tuple[int, list[str]]:
    """An incoming call held in a queue bridge (often), or nothing; returns (end, Extensions)."""
    r, tok = rng.random, line.tok
    holding = line.ct == 0 and r() < 0.8
    buid = ""
    if holding:
        buid = bridge_id(rng)
        ev.append(SimEvent(ev[-1].second, "bridge_create", "", bridge_body(tok, buid, "0")))
    if intermediate:
        ev.append(_intermediate_hangup(rng, line, line.dials[0], rng.randint(ev[-1].second, t)))
    end = min(t, LAST_SECOND)
    if holding:
        chan_queue = f"Local/{line.dials[-1][0]}@from-queue-{rng.getrandbits(32):08x};2"
        for n, chan in enumerate((line.chan_out, chan_queue)):
            ev.append(SimEvent(end, "bridge_leave", line.uid, line.row(Channel=chan,
                CallerIDNum=line.phone, CallerIDName=line.caller_name, ConnectedLineNum="",
                ConnectedLineName="", BridgeUniqueid=buid, BridgeNumChannels=str(1 - n))))
        ev.append(SimEvent(end, "bridge_destroy", "", bridge_body(tok, buid, "0")))
    dialed = list(dict.fromkeys(e for g in line.dials for e in g))
    return end, dialed if r() >= 0.2 else []


def _final_hangup(
    rng: random.Random, line: _Line, exts: Sequence[str], end: int, status: str,
) -> SimEvent:
    """The call's last hangup row: the one SPEC §4.2 chooses."""
    r, ts, s0 = rng.random, line.ts, line.s0
    hangup = line.row(Phone=line.phone, Extensions=encode_exts(rng, exts),
        CallType=line.ct_val, DateReceived=ts[s0], StartTime=ts[s0] if r() >= 0.08 else "",
        EndTime=ts[end], CallStatus=status)
    if line.trunk is not None:
        hangup["Trunk"] = line.trunk
    if line.ct == 1 and r() < 0.3:
        hangup["ExternalInitiated"] = True
    if r() < 0.03:
        hangup["Language"] = "ru"
    return SimEvent(end, "hangup", line.uid, hangup)
def bridge_body(tok: str, buid: str, channels: str) -> dict[str, Any]:
    return rows.body(tok, None, BridgeUniqueid=buid, BridgeType="basic",
        BridgeTechnology="simple_bridge", BridgeCreator="<unknown>", BridgeName="<unknown>",
        BridgeNumChannels=channels)


def _intermediate_hangup(
    rng: random.Random, line: _Line, exts: Sequence[str], second: int,
) -> SimEvent:
    """A second, earlier hangup body of the same call; never the one SPEC §4.2 chooses."""
    second = min(second, LAST_SECOND)
    ts, s0 = line.ts, line.s0
    body: dict[str, Any] = line.row(Phone=line.phone, Extensions=encode_exts(rng, exts),
        CallType=line.ct_val, DateReceived=ts[s0], StartTime=ts[s0])
    x = rng.random()
    if x < 0.6:
        body["EndTime"] = ts[second]
    elif x < 0.85:
        pass  # EndTime missing
    else:
        body["EndTime"] = ""
    body["CallStatus"] = rng.choice(("0", "1", ""))
    if line.trunk is not None:
        body["Trunk"] = line.trunk
    return SimEvent(second, "hangup", line.uid, body)
