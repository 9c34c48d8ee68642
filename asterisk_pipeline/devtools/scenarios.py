"""The conversation shapes of SPEC §2.3, one builder each: transfers (attended, chained, blind,
to a busy extension, an unanswered consultation), FollowMe to a mobile, internal calls, a busy
manager, one caller in two calls, and the busy day's hand-over and transfer to FollowMe."""
from __future__ import annotations

from typing import Any, NamedTuple

from .calls import LAST_SECOND, SimCall
from .conversation import (
    UNKNOWN,
    Conv,
    DialRow,
    HangupRow,
    Leg,
    Outcome,
    Party,
    Side,
    Talk,
    View,
    answer_call,
    attended_hop,
    hang_up_bridge,
    incoming_start,
    internal_rows,
)
from .dialplan import (
    NAMES,
    Draft,
    bridge_id,
    caller_name_for,
    caller_phone,
    encode_exts,
    external_phone,
    mobiles_of,
)


class _Incoming(NamedTuple):
    """What every customer call draws first, in this order: the seeded rows depend on it."""

    conv: Conv
    phone: str
    name: str
    trunk: str


def _incoming(d: Draft) -> _Incoming:
    conv = Conv(d)
    phone = caller_phone(d.rng, d.state)
    return _Incoming(conv, phone, caller_name_for(d.rng, phone), d.rng.choice(d.pbx.trunks))


def _build_transfer(d: Draft, shape: str) -> SimCall:
    """An incoming call answered by A and then transferred: attended (1-3 hops), blind, blind to
    a busy extension, or an unanswered consultation (A keeps the caller)."""
    rng, pbx, s0 = d.rng, d.pbx, d.s0
    randint = rng.randint
    c, phone, name, trunk = _incoming(d)
    hops = {"attended_transfer": 1, "attended_transfer_chain": randint(2, 3)}.get(shape, 1)
    people = rng.sample(pbx.extensions, min(len(pbx.extensions), hops + 1))
    first = people[0]
    group = list(dict.fromkeys([first, *rng.sample(pbx.extensions, randint(0, 2))]))
    rng.shuffle(group)
    caller, t = incoming_start(c, s0, (phone, name), trunk, [group])
    caller_p: Party = (phone, name)
    holder = c.sip(s0, first)
    holder_p: Party = (first, rng.choice(NAMES))
    talk, t = answer_call(c, t, Side(caller, caller_p), Side(holder, holder_p), trunk)
    chain = [first]
    final: dict[str, Any] = {"phone": phone, "exts": encode_exts(rng, [first]), "ct": 0,
                             "received": s0, "start": s0, "status": "2", "trunk": trunk}
    status, ct, exts = "2", 0, [first]
    t += randint(5, 120)
    if shape in ("attended_transfer", "attended_transfer_chain"):
        for target in people[1:]:
            held = Talk(Side(caller, caller_p), Side(holder, holder_p), talk)
            holder, talk, t = attended_hop(c, t, held, (target, rng.choice(NAMES)))
            holder_p = (target, "")
            chain.append(target)
            t += randint(5, 120)
        holder_p = (holder_p[0], "")
        end = t + randint(0, 300)
        hang_up_bridge(c, end, Talk(Side(caller, caller_p), Side(holder, holder_p), talk))
    elif shape == "unanswered_consultation":
        target = rng.choice([e for e in pbx.extensions if e != first])
        hold = c.create(t)
        c.bridge(t, View(holder, holder_p, caller_p), hold)
        one, two = c.local(t, target, "dialexecute")
        c.rang_extra.append(target)  # rang, never answered: only the Local channel names it
        consult = t
        t += randint(1, 2)
        c.callerid(t, View(two, (first, "<unknown>"), UNKNOWN), "dialexecute", target)
        c.callerid(t, View(one, (target, "<unknown>"), (first, "<unknown>")), "dialexecute", target)
        t += randint(10, 30)  # target rings, nobody answers, A goes back to the caller
        c.hangup(t + randint(0, 2), two.uid, HangupRow(phone=first, exts=[""], ct=2,
            received=consult, start=None, end=t, status="0", trunk=None))
        c.leave(t, View(one, (target, "<unknown>"), (first, "<unknown>")), hold, 1)
        c.leave(t, View(holder, holder_p, caller_p), hold, 0)
        c.destroy(t, hold)
        t += randint(1, 2)
        c.bridge(t, View(holder, holder_p, caller_p), talk)
        end = t + randint(5, 300)
        hang_up_bridge(c, end, Talk(Side(caller, caller_p), Side(holder, holder_p), talk))
    else:  # blind transfer: the caller's own channel is sent to dial B
        target = rng.choice([e for e in pbx.extensions if e != first])
        hang_up_bridge(c, t, Talk(Side(caller, caller_p), Side(holder, holder_p), talk))
        t += randint(0, 1)
        c.dial(t, caller.uid, DialRow(phone, encode_exts(rng, [target]), 2, ""))
        c.callerid(t, View(caller, caller_p, (target, "")), "from-internal-xfer", target)
        status, ct, exts = ("0" if shape == "blind_transfer_busy" else "2"), 2, [target]
        final.update(exts=[target], ct=2, status=status, trunk=None)
        if shape == "blind_transfer_busy":
            end = t + randint(1, 6)  # busy tone; the caller hangs up
        else:
            b_leg = c.sip(t, target)
            b_p: Party = (target, rng.choice(NAMES))
            second, t = answer_call(c, t, Side(caller, caller_p), Side(b_leg, b_p), trunk)
            chain.append(target)
            end = t + randint(5, 300)
            hang_up_bridge(c, end, Talk(Side(caller, caller_p), Side(b_leg, b_p), second))
    return c.finish(Outcome(shape=shape, direction="0", ct=ct, status=status, answered=True, s0=s0,
        end=end, exts=exts, chain=chain, phone=phone, final=final))


def _build_followme(d: Draft, shape: str) -> SimCall:
    """Ring groups growing to a manager's mobile over a Local channel (2-13): trunk attempts
    that fail leave only a new_callerid; answered on the mobile, or cancelled because a desk
    phone answers (or because nobody does)."""
    rng, pbx, s0, state = d.rng, d.pbx, d.s0, d.state
    randint = rng.randint
    c, phone, name, trunk = _incoming(d)
    free = [(e, m) for e, m in mobiles_of(pbx.token).items()
            if state.mobile_busy_until.get(m, -1) < s0]
    if state.phones and rng.random() < 0.3:  # busy day: a mobile already in a forward, sometimes
        free = list(mobiles_of(pbx.token).items())
    if free:
        manager, mobile = rng.choice(free)
    else:  # every manager's mobile is in a forward already: a colleague's own number
        manager, mobile = rng.choice(pbx.extensions), external_phone(rng).lstrip("+")
    other = rng.choice([e for e in pbx.extensions if e != manager])
    outcome = "mobile" if shape == "followme_mobile" else (
        "desk" if rng.random() < 0.75 else "nobody")
    groups = [[manager], [manager, other], [manager, mobile, other]]
    caller, t = incoming_start(c, s0, (phone, name), trunk, groups)
    caller_p: Party = (phone, name)
    mob_p: Party = (mobile, "<unknown>")
    fwd = t
    buid = bridge_id(rng)
    one, two = c.local(fwd, mobile, buid[:8])
    desk = c.sip(fwd, other) if outcome == "desk" else None
    c.callerid(t, View(one, (trunk, "<unknown>"), caller_p), buid[:8], trunk)
    c.callerid(t, View(two, caller_p, (trunk, "<unknown>")), buid[:8], mobile)
    line = trunk
    lines: list[tuple[str, Leg]] = []
    for _ in range(randint(1, 2) if outcome != "mobile" else randint(1, 3)):
        line = rng.choice(pbx.trunks)
        c.dial(t, two.uid, DialRow(mobile, [phone], 1, line))
        out = c.sip(t, line)
        c.callerid(t, View(out, mob_p, caller_p), "from-out-office", mobile)
        lines.append((line, out))
        t += randint(0, 3)
    final: dict[str, Any] = {"phone": phone, "ct": 0, "received": s0, "start": s0,
                             "trunk": trunk}
    if outcome == "mobile":
        line, out = lines.pop()  # the last attempt got through: it is bridged
        t += randint(3, 20)
        c.create(t, buid)
        c.bridge(t, View(caller, caller_p, mob_p), buid, exten=trunk)
        c.bridge(t, View(one, mob_p, caller_p), buid, exten=mobile)
        outer = c.create(t)
        c.bridge(t, View(two, caller_p, mob_p), outer, exten=mobile)
        c.bridge(t, View(out, mob_p, caller_p), outer, exten=mobile)
        answer = t
        end = t + randint(10, 400)
        hang_up_bridge(c, end, Talk(Side(two, caller_p), Side(out, mob_p), outer))
        hang_up_bridge(c, end, Talk(Side(caller, caller_p), Side(one, mob_p), buid))
        c.hangup(end + randint(1, 3), two.uid, HangupRow(phone=mobile, exts=[phone], ct=1,
            received=fwd, start=answer, end=end, status="2", trunk=line))
        final.update(exts=encode_exts(rng, [mobile]), status="2")
        chain, exts = [mobile], [mobile]
    elif desk is not None:  # 2-13: a desk phone answers, the forward is cancelled
        t += randint(3, 20)
        c.create(t, buid)
        desk_p: Party = (other, rng.choice(NAMES))
        c.bridge(t, View(caller, caller_p, (other, "")), buid, exten=trunk)
        c.hangup(t + randint(5, 14), two.uid, HangupRow(phone=mobile, exts=[phone], ct=1,
            received=fwd, start=fwd, end=t + randint(2, 11), status="0", trunk=line))
        t += randint(1, 14)
        c.bridge(t, View(desk, (other, ""), caller_p), buid)
        end = t + randint(2, 300)
        hang_up_bridge(c, end, Talk(Side(caller, caller_p), Side(desk, desk_p), buid))
        final.update(exts=encode_exts(rng, [other]), status="2")
        chain, exts = [other], [other]
    else:  # the caller gives up while everybody rings
        end = t + randint(5, 30)
        c.hangup(end, two.uid, HangupRow(phone=mobile, exts=[phone], ct=1, received=fwd, start=fwd,
            end=end, status="0", trunk=line))
        final.update(exts=encode_exts(rng, [manager, mobile, other]), status="0")
        chain, exts = [], [manager, mobile, other]
    c.trunk_attempts.extend(leg.uid for _, leg in lines)
    if outcome != "mobile":  # never bridged: the forward joins by its target only (rule 3)
        c.forwarding.update((one.uid, two.uid))
    state.mobile_busy_until[mobile] = end + 10
    return c.finish(Outcome(shape=shape, direction="0", ct=0, status=final["status"],
        answered=bool(chain), s0=s0, end=end, exts=exts, chain=chain, phone=phone, final=final))


def _build_internal(d: Draft, shape: str) -> SimCall:
    """An internal call, a channel (UniqueId) per phone; ``internal_misleading`` says CallType 0
    and ``ExternalInitiated: true`` on every row, with an empty Trunk."""
    rng, pbx, s0 = d.rng, d.pbx, d.s0
    c = Conv(d)
    caller_ext, callee = rng.sample(pbx.extensions, 2)
    misleading = shape == "internal_misleading"
    me, them, buid, t = internal_rows(c, s0, caller_ext, callee, misleading)
    end = t + rng.randint(5, 400)
    hang_up_bridge(c, end, Talk(Side(me, (caller_ext, "")), Side(them, (callee, "")), buid))
    final = {"phone": caller_ext, "exts": encode_exts(rng, [callee]),
             "ct": 0 if misleading else 2, "received": s0, "start": s0, "status": "2",
             "trunk": "" if misleading else None}
    return c.finish(Outcome(shape=shape, direction="2", ct=final["ct"], status="2", answered=True,
        s0=s0, end=end, exts=[callee], chain=[callee], phone=caller_ext, final=final))


def _build_busy_manager(d: Draft) -> tuple[SimCall, SimCall]:
    """Manager E talks to a colleague (internal call) while a customer call answered by A is
    handed to E after a consultation: two overlapping conversations sharing E."""
    rng, pbx, s0, state = d.rng, d.pbx, d.s0, d.state
    randint = rng.randint
    colleague, manager, agent = rng.sample(pbx.extensions, 3)
    inner = Conv(d)
    me, them, ibuid, _ = internal_rows(inner, s0, colleague, manager, False)
    s1 = min(s0 + randint(5, 40), LAST_SECOND)
    k = Conv(d._replace(seq=inner.seq + randint(1, 3)))
    phone = caller_phone(rng, state)
    name = caller_name_for(rng, phone)
    trunk = rng.choice(pbx.trunks)
    caller, t = incoming_start(k, s1, (phone, name), trunk, [[agent]])
    caller_p: Party = (phone, name)
    a_leg = k.sip(s1, agent)
    a_p: Party = (agent, rng.choice(NAMES))
    talk, t = answer_call(k, t, Side(caller, caller_p), Side(a_leg, a_p), trunk)
    t += randint(5, 60)
    e_leg, talk, t = attended_hop(k, t, Talk(Side(caller, caller_p), Side(a_leg, a_p), talk),
        (manager, ""))
    end = t + randint(10, 300)
    hang_up_bridge(k, end, Talk(Side(caller, caller_p), Side(e_leg, (manager, "")), talk))
    i_end = t + randint(10, 200)  # the internal call outlives the hand-over
    hang_up_bridge(inner, i_end, Talk(Side(me, (colleague, "")), Side(them, (manager, "")), ibuid))
    i_final = {"phone": colleague, "exts": encode_exts(rng, [manager]), "ct": 2,
               "received": s0, "start": s0, "status": "2", "trunk": None}
    k_final = {"phone": phone, "exts": encode_exts(rng, [agent]), "ct": 0, "received": s1,
               "start": s1, "status": "2", "trunk": trunk}
    a = inner.finish(Outcome(shape="busy_manager", direction="2", ct=2, status="2", answered=True,
        s0=s0, end=i_end, exts=[manager], chain=[manager], phone=colleague, final=i_final,
        related=[k.legs[0]]))
    b = k.finish(Outcome(shape="busy_manager", direction="0", ct=0, status="2", answered=True,
        s0=s1, end=end, exts=[agent], chain=[agent, manager], phone=phone, final=k_final,
        related=[inner.legs[0]]))
    return a, b


def _build_concurrent(d: Draft) -> tuple[SimCall, SimCall]:
    """One outside number in two unrelated, overlapping calls (two lines of one office)."""
    rng, pbx, s0, state = d.rng, d.pbx, d.s0, d.state
    randint = rng.randint
    phone = caller_phone(rng, state)
    made: list[tuple[Conv, int, int, bool, str, dict[str, Any]]] = []
    start, next_seq = s0, d.seq
    for n in range(2):
        c = Conv(d._replace(seq=next_seq))
        name = caller_name_for(rng, phone)
        trunk = rng.choice(pbx.trunks)
        agent = rng.choice(pbx.extensions)
        if rng.random() < 0.2:  # also seen on plain incoming calls
            c.extra = {"ExternalInitiated": True}
        caller, t = incoming_start(c, start, (phone, name), trunk, [[agent]])
        answered = n == 0 or rng.random() < 0.7
        if answered:
            a_leg = c.sip(start, agent)
            a_p: Party = (agent, rng.choice(NAMES))
            buid, t = answer_call(c, t, Side(caller, (phone, name)), Side(a_leg, a_p), trunk)
            end = t + randint(30, 400)
            hang_up_bridge(c, end, Talk(Side(caller, (phone, name)), Side(a_leg, a_p), buid))
        else:
            end = t + randint(5, 40)
        final = {"phone": phone, "exts": encode_exts(rng, [agent]), "ct": 0,
                 "received": start, "start": start, "status": "2" if answered else "0",
                 "trunk": trunk}
        made.append((c, start, end, answered, agent, final))
        start = min(LAST_SECOND, s0 + randint(3, max(4, end - s0 - 5)))  # while the 1st is on
        next_seq = c.seq + randint(1, 3)
    primaries = [m[0].legs[0] for m in made]
    out = [
        c.finish(Outcome(shape="concurrent_caller", direction="0", ct=0, status=final["status"],
            answered=answered, s0=begin, end=end, exts=[agent], chain=[agent] if answered else [],
            phone=phone, final=final, related=[primaries[1 - n]]))
        for n, (c, begin, end, answered, agent, final) in enumerate(made)
    ]
    return out[0], out[1]


def _build_handover(d: Draft) -> SimCall:
    """A answers; B's desk phone joins the caller's bridge and A leaves (a pickup of a parked or
    held call): two holders, no consultation channel and no dial of B, so the rows do not tell
    an attended from a blind transfer (SPEC §4.2 ``transfer``)."""
    rng, pbx, s0 = d.rng, d.pbx, d.s0
    randint = rng.randint
    c, phone, name, trunk = _incoming(d)
    first, second = rng.sample(pbx.extensions, 2)
    caller, t = incoming_start(c, s0, (phone, name), trunk, [[first]])
    caller_p: Party = (phone, name)
    a_leg = c.sip(s0, first)
    a_p: Party = (first, rng.choice(NAMES))
    talk, t = answer_call(c, t, Side(caller, caller_p), Side(a_leg, a_p), trunk)
    t += randint(5, 120)
    b_leg = c.sip(t, second)
    b_p: Party = (second, rng.choice(NAMES))
    c.bridge(t, View(b_leg, b_p, caller_p), talk)
    t += randint(0, 2)
    c.leave(t, View(a_leg, a_p, caller_p), talk, 2)
    c.callerid(t, View(caller, caller_p, b_p), "from-internal", second)
    end = t + randint(5, 300)
    hang_up_bridge(c, end, Talk(Side(caller, caller_p), Side(b_leg, b_p), talk))
    final = {"phone": phone, "exts": encode_exts(rng, [first]), "ct": 0, "received": s0,
             "start": s0, "status": "2", "trunk": trunk}
    return c.finish(Outcome(shape="transfer_unknown", direction="0", ct=0, status="2",
        answered=True, s0=s0, end=end, exts=[first], chain=[first, second], phone=phone,
        final=final))


def _build_transfer_to_followme(d: Draft) -> SimCall:
    """A answers and consults a FollowMe number over a Local channel; FollowMe rings the
    manager's desk phone and, over a second Local channel, the mobile; the mobile answers, the
    desk phone only rang (one new_callerid: tied to nothing, SPEC §4.2), and A hands the caller
    over. The chain is [A, mobile]: the mobile's far end is recorded (issue 19, defect 1)."""
    rng, pbx, s0, state = d.rng, d.pbx, d.s0, d.state
    randint = rng.randint
    c, phone, name, trunk = _incoming(d)
    free = [(e, m) for e, m in mobiles_of(pbx.token).items() if state.mobile_busy_until.get(m,
        -1) < s0]
    manager, mobile = rng.choice(free) if free else (
        rng.choice(pbx.extensions), external_phone(rng).lstrip("+"))
    first = rng.choice([e for e in pbx.extensions if e != manager])
    number = f"9{randint(0, 99):02d}"  # the FollowMe number: no desk phone has it
    caller, t = incoming_start(c, s0, (phone, name), trunk, [[first]])
    caller_p: Party = (phone, name)
    a_leg = c.sip(s0, first)
    a_p: Party = (first, rng.choice(NAMES))
    talk, t = answer_call(c, t, Side(caller, caller_p), Side(a_leg, a_p), trunk)
    t += randint(5, 60)
    consult = t
    hold = c.create(t)
    c.bridge(t, View(a_leg, a_p, caller_p), hold)
    one, two = c.local(t, number, "dialexecute")
    c.callerid(t, View(two, (first, "<unknown>"), UNKNOWN), "dialexecute", number)
    c.callerid(t, View(one, (number, "<unknown>"), (first, "<unknown>")), "dialexecute", number)
    t += randint(1, 2)
    c.dial(t, two.uid, DialRow(first, encode_exts(rng, [manager, mobile]), 2, ""))
    desk = c.sip(t, manager)  # rings, never answers: only its connected line is written
    c.callerid(t, View(desk, (manager, ""), (first, "")), "from-internal", manager)
    c.trunk_attempts.append(desk.uid)
    m1, m2 = c.local(t, mobile, f"followme-{c.hex8()}")
    c.callerid(t, View(m2, caller_p, (number, "<unknown>")), "followme", mobile)
    line = rng.choice(pbx.trunks)
    c.dial(t, m2.uid, DialRow(mobile, encode_exts(rng, [phone]), 1, line))
    out = c.sip(t, line)
    c.callerid(t, View(out, (mobile, "<unknown>"), caller_p), "from-out-office", mobile)
    mob_p: Party = (mobile, "<unknown>")
    t += randint(3, 20)
    side = c.create(t)
    c.bridge(t, View(two, (first, ""), mob_p), side, exten=number)
    c.bridge(t, View(m1, mob_p, (first, "")), side, exten=mobile)
    outer = c.create(t)
    c.bridge(t, View(m2, (first, ""), mob_p), outer, exten=mobile)
    c.bridge(t, View(out, mob_p, (first, "")), outer, exten=mobile)
    answer = t
    t += randint(3, 60)  # A talks to the manager's mobile, then completes the transfer
    moved = t
    c.leave(t, View(a_leg, a_p, mob_p), hold, 1)
    c.leave(t, View(one, (number, "<unknown>"), (first, "<unknown>")), hold, 0)
    t += randint(1, 2)
    c.bridge(t, View(one, (number, ""), (first, "<unknown>")), talk, exten=number)
    c.destroy(t, hold)
    t += 1
    c.leave(t, View(caller, caller_p, (first, "<unknown>")), talk, 1)
    t += 1
    c.bridge(t, View(caller, caller_p, mob_p), side, exten=trunk)
    c.leave(t, View(two, (first, "<unknown>"), mob_p), side, 2)
    c.callerid(t, View(two, caller_p, mob_p), "dialexecute", number)
    c.hangup(t + randint(1, 3), two.uid, HangupRow(phone=phone, exts=[number], ct=2,
        received=consult, start=None, end=moved, status="2", trunk=None))
    t += randint(1, 2)
    c.leave(t, View(one, (number, "<unknown>"), (first, "<unknown>")), talk, 0)
    c.destroy(t, talk)
    end = t + randint(10, 300)
    c.leave(end, View(m1, mob_p, caller_p), side, 1)
    c.leave(end, View(caller, caller_p, mob_p), side, 0)
    c.destroy(end, side)
    c.leave(end, View(out, mob_p, caller_p), outer, 1)
    c.leave(end, View(m2, caller_p, mob_p), outer, 0)
    c.destroy(end, outer)
    c.hangup(end + randint(1, 3), m2.uid, HangupRow(phone=mobile, exts=[phone], ct=1,
        received=answer, start=answer, end=end, status="2", trunk=line))
    state.mobile_busy_until[mobile] = end + 10
    final = {"phone": phone, "exts": encode_exts(rng, [first]), "ct": 0, "received": s0,
             "start": s0, "status": "2", "trunk": trunk}
    return c.finish(Outcome(shape="transfer_to_followme", direction="0", ct=0, status="2",
        answered=True, s0=s0, end=end, exts=[first], chain=[first, mobile], phone=phone,
        final=final))


def build_complex(d: Draft, shape: str) -> list[SimCall]:
    """The conversations of one complex shape starting at ``d.s0`` (two for the paired shapes)."""
    if shape in ("followme_mobile", "followme_cancelled"):
        return [_build_followme(d, shape)]
    if shape in ("internal", "internal_misleading"):
        return [_build_internal(d, shape)]
    if shape == "busy_manager":
        return list(_build_busy_manager(d))
    if shape == "concurrent_caller":
        return list(_build_concurrent(d))
    if shape == "transfer_unknown":
        return [_build_handover(d)]
    if shape == "transfer_to_followme":
        return [_build_transfer_to_followme(d)]
    return [_build_transfer(d, shape)]
