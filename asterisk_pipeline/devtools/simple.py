"""One-UniqueId calls (shape ``"simple"``): incoming, outgoing and internal, answered or not,
with the encodings and second hangups real files show."""
from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from typing import Any

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
from .dialplan import NAMES, Pbx, State, bridge_id, caller_phone, encode_exts
from .dirt import add_dirt


def build_call(
    rng: random.Random, pbx: Pbx, day: date, ts: Sequence[str], s0: int, seq: int,
    dirty_p: float, answered_share: float = ANSWERED_SHARE, state: State | None = None,
) -> SimCall:
    """All events of one call starting at local second ``s0``, time-ordered, plus dirty extras."""
    r = rng.random
    randint = rng.randint
    tok = pbx.token
    uid = f"{epoch_of_midnight(day) + s0}.{seq}"
    exts = pbx.extensions

    x = r()
    ct = 0 if x < 0.6 else (1 if x < 0.9 else 2)
    ct_val: Any = ct if r() < 0.5 else str(ct)
    answered = r() < answered_share
    if answered:
        status = "2"
    else:
        y = r()
        status = "0" if y < 0.8 else ("1" if y < 0.88 else ("5" if y < 0.92 else ""))

    trunk: str | None
    if ct == 0:
        y = r()
        odd_phones = ("", "<unknown>", "Anonymous")
        phone = caller_phone(rng, state) if y < 0.9 else odd_phones[int(y * 1000) % 3]
        trunk = rng.choice(pbx.trunks)
        groups = 1 if r() < 0.4 else (2 if r() < 0.6 else 3)
        dials = [rng.sample(exts, min(len(exts), randint(1, 3))) for _ in range(groups)]
        answerer = rng.choice(dials[-1])
        exten = rng.choice(pbx.dids)
        context = "from-trunk"
    elif ct == 1:
        answerer = rng.choice(exts)
        phone = caller_phone(rng, state)
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
    dialed = list(dict.fromkeys(e for g in dials for e in g))
    caller_name = rng.choice(NAMES) if r() < 0.6 else phone
    ext_name = rng.choice(NAMES)
    chan_out = f"SIP/{trunk or phone}-{rng.getrandbits(32):08x}"
    chan_in = f"SIP/{answerer}-{rng.getrandbits(32):08x}"

    ev: list[SimEvent] = []
    add = ev.append
    last = LAST_SECOND
    dialled: list[tuple[str, ...]] = []

    t = s0
    if ct == 0:
        add(SimEvent(t, "start", uid, rows.body(tok, uid, Phone=phone,
            CallType=0 if r() < 0.5 else "0", Trunk=trunk)))
        t += randint(0, 2)
    for i, group in enumerate(dials):
        if i:
            t += randint(8, 30)
        dial_exts = encode_exts(rng, group) if r() >= 0.03 else ([""] if r() < 0.5 else [])
        body = rows.body(tok, uid, Phone=phone, Extensions=dial_exts, CallType=ct_val,
            Trunk=trunk or "", ExtTrunk="", ExtPhone="")
        if ct == 1 and r() < 0.3:
            body["ExternalInitiated"] = True
        add(SimEvent(min(t, last), "dial", uid, body))
        dialled.append(norm_exts(dial_exts))
        if r() < 0.7:  # the PBX updates the connected line for every ring group
            t += randint(0, 1)
            add(SimEvent(min(t, last), "new_callerid", uid, rows.body(tok, uid, Channel=chan_out,
                CallerIDNum=phone, CallerIDName=caller_name, ConnectedLineNum=group[0],
                ConnectedLineName=ext_name, Context=context, Exten=exten)))
    t += randint(2, 45)

    intermediate = r() < 0.15
    if answered:
        buid = bridge_id(rng)
        bt = min(t, last)
        add(SimEvent(bt, "bridge_create", "", bridge_body(tok, buid, "0")))
        ans_num = answerer if r() >= 0.03 else f"{answerer} "
        b_caller = rows.body(tok, uid, Channel=chan_out, Exten=exten, CallerIDNum=phone,
            CallerIDName=caller_name, ConnectedLineNum=answerer, ConnectedLineName=ext_name)
        b_agent = rows.body(tok, uid, Channel=chan_in, Exten=exten, CallerIDNum=ans_num,
            CallerIDName=ext_name, ConnectedLineNum=phone, ConnectedLineName=caller_name)
        pair = (b_caller, b_agent) if r() < 0.5 else (b_agent, b_caller)
        for b in pair:
            add(SimEvent(bt, "bridge", uid, b, {"BridgeUniqueid": buid}))
        if r() < 0.8:  # connected line of the answering party
            add(SimEvent(bt, "new_callerid", uid, rows.body(tok, uid, Channel=chan_in,
                CallerIDNum=answerer, CallerIDName=ext_name, ConnectedLineNum=phone,
                ConnectedLineName=caller_name, Context="macro-dial-one", Exten="s")))
        t += min(3600, int(rng.expovariate(1 / 150)) + 1)
        t_mid = randint(bt, t) if intermediate else t
        end = min(t, last)
        if intermediate:
            add(_intermediate_hangup(rng, tok, uid, phone, dials[0], ct_val, ts, s0, t_mid, trunk))
        for n, (chan, num, name, cnum, cname) in enumerate((
            (chan_out, phone, caller_name, answerer, ext_name),
            (chan_in, answerer, ext_name, phone, caller_name),
        )):
            add(SimEvent(end, "bridge_leave", uid, rows.body(tok, uid, Channel=chan,
                CallerIDNum=num, CallerIDName=name, ConnectedLineNum=cnum, ConnectedLineName=cname,
                BridgeUniqueid=buid, BridgeNumChannels=str(1 - n))))
        add(SimEvent(end, "bridge_destroy", "", bridge_body(tok, buid, "0")))
        hangup_exts: list[str] = [answerer]
        if r() < 0.05:
            hangup_exts.append(rng.choice(exts))
        if r() < 0.01:
            hangup_exts = []
    else:
        holding = ct == 0 and r() < 0.8
        if holding:
            buid = bridge_id(rng)
            add(SimEvent(ev[-1].second, "bridge_create", "", bridge_body(tok, buid, "0")))
        if intermediate:
            add(_intermediate_hangup(
                rng, tok, uid, phone, dials[0], ct_val, ts, s0, randint(ev[-1].second, t), trunk))
        end = min(t, last)
        if holding:
            chan_queue = f"Local/{dials[-1][0]}@from-queue-{rng.getrandbits(32):08x};2"
            for n, chan in enumerate((chan_out, chan_queue)):
                add(SimEvent(end, "bridge_leave", uid, rows.body(tok, uid, Channel=chan,
                    CallerIDNum=phone, CallerIDName=caller_name, ConnectedLineNum="",
                    ConnectedLineName="", BridgeUniqueid=buid, BridgeNumChannels=str(1 - n))))
            add(SimEvent(end, "bridge_destroy", "", bridge_body(tok, buid, "0")))
        hangup_exts = dialed if r() >= 0.2 else []

    hangup = rows.body(tok, uid, Phone=phone, Extensions=encode_exts(rng, hangup_exts),
        CallType=ct_val, DateReceived=ts[s0], StartTime=ts[s0] if r() >= 0.08 else "",
        EndTime=ts[end], CallStatus=status)
    if trunk is not None:
        hangup["Trunk"] = trunk
    if ct == 1 and r() < 0.3:
        hangup["ExternalInitiated"] = True
    if r() < 0.03:
        hangup["Language"] = "ru"
    add(SimEvent(end, "hangup", uid, hangup))

    if dirty_p > 0.0:
        ev = add_dirt(rng, ev, tok, uid, phone, ts, day, dirty_p)
    chain = (answerer,) if answered else ()
    people = participants_of(dialled, norm_exts(hangup_exts), chain, (), phone)
    return SimCall(uid, day, ct, status, answered, s0, end, norm_exts(hangup_exts), tuple(ev),
                   transfer_chain=chain, phone=phone,
                   call_shape=shape_of("simple", str(ct), chain, len(people)),
                   links=((uid, "primary"),), participants=people)


def bridge_body(tok: str, buid: str, channels: str) -> dict[str, Any]:
    return rows.body(tok, None, BridgeUniqueid=buid, BridgeType="basic",
        BridgeTechnology="simple_bridge", BridgeCreator="<unknown>", BridgeName="<unknown>",
        BridgeNumChannels=channels)


def _intermediate_hangup(
    rng: random.Random, tok: str, uid: str, phone: str, exts: Sequence[str], ct_val: Any,
    ts: Sequence[str], s0: int, second: int, trunk: str | None,
) -> SimEvent:
    """A second, earlier hangup body of the same call; never the one SPEC §4.2 chooses."""
    second = min(second, LAST_SECOND)
    body: dict[str, Any] = rows.body(tok, uid, Phone=phone, Extensions=encode_exts(rng, exts),
        CallType=ct_val, DateReceived=ts[s0], StartTime=ts[s0])
    x = rng.random()
    if x < 0.6:
        body["EndTime"] = ts[second]
    elif x < 0.85:
        pass  # EndTime missing
    else:
        body["EndTime"] = ""
    body["CallStatus"] = rng.choice(("0", "1", ""))
    if trunk is not None:
        body["Trunk"] = trunk
    return SimEvent(second, "hangup", uid, body)
