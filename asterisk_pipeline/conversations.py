"""SPEC §4.2–4.4 as pure functions: the rows of one source table → conversations.

A customer's call leaves several UniqueIds (one per channel) and often several hangups. Here
they are grouped into one conversation (links: shared bridges, the two halves of a Local
channel, and — only as a last resort with exactly one candidate — a forwarding leg), then the
conversation becomes one call, its legs and its participants.

Why the input is a flat list of :class:`ConvRow`: the result must not depend on how the rows
were split into batches, so the assembly is a function of the *set* of rows of a table; the
caller hands every row it knows for the UniqueIds concerned (from this batch and from the
warehouse) and gets the same answer whatever the split. Nothing here does I/O.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson

from .model import Call, Enterprise, Leg, Participant
from .normalize import (
    as_text,
    call_type_text,
    local_to_utc,
    normalize_extensions,
    parse_body,
    parse_plausible,
)

# The event types a conversation is built from; every other event is stored but not read here.
CONVERSATION_TYPES = frozenset({"start", "dial", "bridge", "bridge_leave", "new_callerid", "hangup"})
_BRIDGE_TYPES = ("bridge", "bridge_leave")
_NO_PARTY = frozenset({"", "<unknown>", "unknown", "anonymous", "s"})
_LOCAL_DEPTH = 4  # Local → Local → … hops followed to find the party at the far end

Order = tuple[date, int]  # (file date, source id): ids restart in every day file
_ORDER = attrgetter("order")


class ConvRow(NamedTuple):
    """What the assembly needs from one source row (one per row, retries included)."""

    order: Order
    at: datetime | None  # the row's DateTime, UTC
    unique_id: str
    kind: str
    channel: str | None
    bridge_id: str | None  # BridgeUniqueid as written (absent on APIlogs ``bridge`` rows)
    caller: str | None  # CallerIDNum, stripped
    connected: str | None  # ConnectedLineNum, stripped
    extensions: tuple[str, ...]  # Extensions (dial, hangup), normalized
    phone: str | None
    trunk: str | None
    delivered: bool
    live_table: bool
    hangup_json: str | None  # canonical body of a hangup (the call's raw_data)
    end_local: datetime | None  # hangup EndTime, PBX local


def conv_row(
    order: Order, at: datetime | None, unique_id: str, kind: str, body: dict[str, Any],
    canonical: str, delivered: bool, live_table: bool,
) -> ConvRow | None:
    """The assembly's view of one event; None when a conversation never reads it.

    Runs once per source row: each event type reads only the fields it carries.
    """
    if not unique_id or kind not in CONVERSATION_TYPES:
        return None
    get = body.get
    if kind == "hangup":
        return ConvRow(
            order, at, unique_id, kind, None, None, None, None,
            normalize_extensions(get("Extensions")), _strip(get("Phone")), _strip(get("Trunk")),
            delivered, live_table, canonical, parse_plausible(get("EndTime"), order[0]),
        )
    if kind == "dial":
        return ConvRow(
            order, at, unique_id, kind, None, None, None, None,
            normalize_extensions(get("Extensions")), _strip(get("Phone")), _strip(get("Trunk")),
            delivered, live_table, None, None,
        )
    if kind == "start":
        return ConvRow(
            order, at, unique_id, kind, None, None, None, None, (), _strip(get("Phone")),
            _strip(get("Trunk")), delivered, live_table, None, None,
        )
    return ConvRow(  # bridge, bridge_leave, new_callerid
        order, at, unique_id, kind, _strip(get("Channel")),
        _strip(get("BridgeUniqueid")) if kind != "new_callerid" else None,
        _strip(get("CallerIDNum")), _strip(get("ConnectedLineNum")), (), None, None,
        delivered, live_table, None, None,
    )


def _start_local(body: dict[str, Any], hangup: ConvRow) -> datetime | None:
    """SPEC §4.2: the hangup's StartTime, else its DateReceived — each only when plausible for
    the file the hangup was read from (a 1900 StartTime is no start)."""
    day = hangup.order[0]
    return parse_plausible(body.get("StartTime"), day) or parse_plausible(body.get("DateReceived"), day)


def _json_text(value: Any) -> str:
    """Compact JSON text, non-ASCII kept (the form ``raw_data`` uses)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _load(canonical: str) -> dict[str, Any]:
    """A stored canonical body, parsed as the import parsed it: ``parse_body`` (orjson reads an
    integer beyond 64 bits as a float, or refuses it; a CallStatus of 10**30 must stay exact)."""
    value = parse_body(canonical)
    return value if isinstance(value, dict) else {}


def _strip(value: Any) -> str | None:
    return value.strip() if type(value) is str and "\x00" not in value else _stripped(value)


def _stripped(value: Any) -> str | None:
    text = as_text(value)
    return text.strip() if text is not None else None


def is_extension(value: str | None) -> bool:
    """SPEC §4.2: an extension is a digit string of 2 to 5 digits; anything else is outside."""
    return value is not None and 2 <= len(value) <= 5 and value.isascii() and value.isdigit()


# ---------------------------------------------------------------------------------------------
# Channels


class Channel(NamedTuple):
    name: str
    tech: str  # 'SIP', 'PJSIP', 'Local', …
    resource: str  # extension, trunk id, or Local target
    local_base: str | None  # 'Local/<target>@<context>-<n>' without ';1'/';2'
    local_half: int | None


def parse_channel(name: str | None) -> Channel | None:
    if not name or "/" not in name:
        return None
    tech, rest = name.split("/", 1)
    if tech == "Local":
        base, _, half = rest.rpartition(";")
        if half not in ("1", "2") or "@" not in base:
            return None
        return Channel(name, tech, base.split("@", 1)[0], f"Local/{base}", int(half))
    resource = rest.rsplit("-", 1)[0] if "-" in rest else rest
    return Channel(name, tech, resource, None, None)


def _uid_key(unique_id: str) -> tuple[int, int, str]:
    parts = _uid_parts(unique_id)
    return (parts[0], parts[1], unique_id) if parts else (1 << 62, 0, unique_id)


def _uid_parts(unique_id: str) -> tuple[int, int] | None:
    epoch, _, seq = unique_id.partition(".")
    if epoch.isdigit() and seq.isdigit():
        return int(epoch), int(seq)
    return None


# ---------------------------------------------------------------------------------------------
# What one UniqueId says


@dataclass(slots=True)
class UidView:
    unique_id: str
    rows: list[ConvRow]
    channel: Channel | None
    starts: list[ConvRow] = field(default_factory=list)
    dials: list[ConvRow] = field(default_factory=list)
    hangups: list[ConvRow] = field(default_factory=list)
    bridges: list[tuple[ConvRow, str | None]] = field(default_factory=list)  # row, bridge id

    @property
    def is_local(self) -> bool:
        return self.channel is not None and self.channel.local_half is not None

    @property
    def desk_extension(self) -> str | None:
        ch = self.channel
        if ch is not None and ch.local_half is None and is_extension(ch.resource):
            return ch.resource
        return None

    @property
    def outside_line(self) -> str | None:
        ch = self.channel
        if ch is not None and ch.local_half is None and not is_extension(ch.resource):
            return ch.resource
        return None

    @property
    def own_channel(self) -> bool:
        """A call's own channel (SPEC §4.2 rule 3): a start or dial row, not a Local half."""
        return bool(self.starts or self.dials) and not self.is_local

    @property
    def first(self) -> Order:
        return self.rows[0].order

    def span(self) -> tuple[datetime | None, datetime | None]:
        times = [r.at for r in self.rows if r.at is not None]
        return (min(times), max(times)) if times else (None, None)


def _view(unique_id: str, rows: list[ConvRow]) -> UidView:
    rows.sort(key=_ORDER)
    own = next((r.channel for r in rows if r.channel and r.unique_id == unique_id), None)
    view = UidView(unique_id, rows, parse_channel(own))
    next_leave: str | None = None
    derived: list[tuple[ConvRow, str | None]] = []
    for row in reversed(rows):  # a bridge row without id entered the bridge its next leave names
        if row.kind == "bridge_leave":
            derived.append((row, row.bridge_id))
            next_leave = row.bridge_id
        elif row.kind == "bridge":
            derived.append((row, row.bridge_id or next_leave))
            next_leave = None
    view.bridges = derived[::-1]
    for row in rows:
        if row.kind == "start":
            view.starts.append(row)
        elif row.kind == "dial":
            view.dials.append(row)
        elif row.kind == "hangup":
            view.hangups.append(row)
    return view


def choose_hangup(hangups: Iterable[ConvRow]) -> ConvRow:
    """SPEC §4.2: a parsable EndTime first, then the later EndTime, then the higher source id."""
    return max(hangups, key=lambda h: (h.end_local is not None, h.end_local or datetime.min, h.order))


# ---------------------------------------------------------------------------------------------
# Links


class _Groups:
    """Union-find over UniqueIds; the representative is the smallest first row."""

    def __init__(self, views: dict[str, UidView]) -> None:
        self.parent = {uid: uid for uid in views}
        self.views = views

    def find(self, uid: str) -> str:
        parent = self.parent
        while parent[uid] != uid:
            parent[uid] = parent[parent[uid]]
            uid = parent[uid]
        return uid

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if (self.views[rb].first, rb) < (self.views[ra].first, ra):
                ra, rb = rb, ra
            self.parent[rb] = ra

    def components(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for uid in self.parent:
            groups[self.find(uid)].append(uid)
        for members in groups.values():
            members.sort(key=lambda u: (self.views[u].first, u))
        return groups


def _link_bridges(groups: _Groups, views: dict[str, UidView]) -> None:
    members: dict[str, str] = {}
    for uid, view in views.items():
        for _, bridge in view.bridges:
            if bridge:
                first = members.setdefault(bridge, uid)
                groups.union(first, uid)


def _overlap(a: UidView, b: UidView, slack_s: float = 60.0) -> bool:
    a0, a1 = a.span()
    b0, b1 = b.span()
    if a0 is None or b0 is None or a1 is None or b1 is None:
        return True  # unusable times: the consecutive UniqueIds and the file decide
    return (a0 - b1).total_seconds() <= slack_s and (b0 - a1).total_seconds() <= slack_s


def _link_local_halves(groups: _Groups, views: dict[str, UidView]) -> None:
    """The ;1 and ;2 halves of one Local channel name, in one file, overlapping in time.

    The counter in the name restarts with Asterisk, so the name alone is not enough: the halves
    are created together and get consecutive UniqueIds, which decides when it is known.
    """
    halves: dict[tuple[date, str], tuple[list[UidView], list[UidView]]] = defaultdict(lambda: ([], []))
    for view in views.values():
        ch = view.channel
        if ch is not None and ch.local_base is not None and ch.local_half is not None:
            halves[(view.first[0], ch.local_base)][ch.local_half - 1].append(view)
    for ones, twos in halves.values():
        unpaired = list(twos)
        for one in sorted(ones, key=lambda v: (v.first, v.unique_id)):
            parts = _uid_parts(one.unique_id)
            match = None
            if parts is not None:
                for two in unpaired:
                    other = _uid_parts(two.unique_id)
                    if other and other[1] == parts[1] + 1 and abs(other[0] - parts[0]) <= 1:
                        match = two
                        break
            if match is None:
                close = [two for two in unpaired if _overlap(one, two)]
                if len(ones) == 1 and len(close) == 1:
                    match = close[0]
            if match is not None and _overlap(one, match):
                unpaired.remove(match)
                groups.union(one.unique_id, match.unique_id)


def _component_span(views: Sequence[UidView]) -> tuple[datetime | None, datetime | None]:
    starts = [s for v in views for s in [v.span()[0]] if s is not None]
    ends = [e for v in views for e in [v.span()[1]] if e is not None]
    return (min(starts) if starts else None, max(ends) if ends else None)


def _is_forwarding(views: Sequence[UidView]) -> bool:
    """A Local channel left connected to no call's own channel (SPEC §4.2 rule 3)."""
    return (
        any(v.is_local for v in views)
        and not any(v.own_channel for v in views)
        and all(v.is_local for v in views if v.hangups)
    )


def _link_forwarding(groups: _Groups, views: dict[str, UidView]) -> set[str]:
    """Rule 3: a forwarding leg joins the one open call whose dial lists its target.

    Returns the representatives of forwarding legs with zero or several candidates: they stay
    unlinkable (stored as legs without a call), never a call of their own.
    """
    components = groups.components()
    # Calls by the targets their own channels dial: one look-up per forwarding leg, not a scan
    # of every call (a busy day has thousands of calls and hundreds of forwarding legs).
    ringing: dict[str, list[str]] = defaultdict(list)
    for rep, uids in components.items():
        targets = {e for u in uids if views[u].own_channel for d in views[u].dials for e in d.extensions}
        for target in targets:
            ringing[target].append(rep)
    spans: dict[str, tuple[datetime | None, datetime | None]] = {}
    unlinkable: set[str] = set()
    joins: list[tuple[str, str]] = []
    for rep, uids in components.items():
        legs = [views[u] for u in uids]
        if not _is_forwarding(legs):
            continue
        target = next(v.channel.resource for v in legs if v.is_local and v.channel)
        begun = _component_span(legs)[0]
        candidates = []
        for call_rep in ringing.get(target, ()):
            if call_rep not in spans:
                spans[call_rep] = _component_span([views[u] for u in components[call_rep]])
            first, last = spans[call_rep]
            if begun is None or first is None or last is None or first <= begun <= last:
                candidates.append(call_rep)
        if len(candidates) == 1:
            joins.append((candidates[0], rep))
        else:
            unlinkable.add(rep)
    for call_rep, rep in joins:
        groups.union(call_rep, rep)
    return unlinkable


def _link_trunk_attempts(groups: _Groups, views: dict[str, UidView]) -> None:
    """A forwarding leg's trunk attempt: an outside-line UniqueId with only ``new_callerid``
    rows whose line, number and time match exactly one forwarding dial (its Trunk, its Phone).

    The SPEC leaves such a UniqueId unlinked; the operator's answer for recorded call 2-13 counts
    both attempts as legs of the conversation, and the match below is as strict as rule 3.
    """
    dials: dict[tuple[str | None, str | None], list[tuple[UidView, ConvRow]]] = defaultdict(list)
    for v in views.values():
        if v.is_local:
            for d in v.dials:
                dials[(d.trunk, d.phone)].append((v, d))
    for view in views.values():
        line = view.outside_line
        if line is None or any(r.kind != "new_callerid" for r in view.rows):
            continue
        caller = view.rows[0].caller
        begun = view.span()[0]
        owners = {
            leg.unique_id for leg, dial in dials.get((line, caller), ())
            if dial.order[0] == view.first[0]
            and (begun is None or dial.at is None or dial.at <= begun)
            and (begun is None or leg.span()[1] is None or begun <= leg.span()[1])  # type: ignore[operator]
        }
        if len(owners) == 1:
            groups.union(owners.pop(), view.unique_id)


# ---------------------------------------------------------------------------------------------
# Conversations


@dataclass(frozen=True)
class Conversation:
    """One conversation: its call (None while its primary has no hangup), legs, participants."""

    primary: str
    unique_ids: tuple[str, ...]
    call: Call | None
    legs: tuple[Leg, ...]
    participants: tuple[Participant, ...]
    forwarding_only: bool = False  # an unlinkable forwarding leg: legs without a call
    live_delivered: bool = False  # the primary has a delivered hangup in AlternativeAPIlogs


def assemble(
    rows: Iterable[ConvRow], enterprise: Enterprise, tz: ZoneInfo, data_source: str
) -> list[Conversation]:
    """Every conversation the rows of one table describe, in order of their first row."""
    by_uid: dict[str, list[ConvRow]] = defaultdict(list)
    for row in rows:
        by_uid[row.unique_id].append(row)
    views = {uid: _view(uid, uid_rows) for uid, uid_rows in by_uid.items()}
    groups = _Groups(views)
    _link_bridges(groups, views)
    _link_local_halves(groups, views)
    unlinkable = _link_forwarding(groups, views)
    _link_trunk_attempts(groups, views)
    out = []
    for rep, uids in groups.components().items():
        members = [views[u] for u in uids]
        if rep in unlinkable and groups.find(rep) == rep and _is_forwarding(members):
            out.append(_forwarding_only(members, enterprise, tz))
        else:
            out.append(_conversation(members, enterprise, tz, data_source))
    out.sort(key=lambda c: (views[c.unique_ids[0]].first, c.primary))
    return out


def _primary(members: list[UidView]) -> UidView:
    """SPEC §4.2: the start row's UniqueId; else a desk phone dialling out; else the calling
    extension of an internal call; else the earliest hangup's."""
    starts = [v for v in members if v.starts]
    if starts:
        return min(starts, key=lambda v: (v.starts[0].order, v.unique_id))
    desk = [v for v in members if v.dials and v.desk_extension and not v.is_local]
    outward = [v for v in desk if any(d.phone and not is_extension(d.phone) for d in v.dials)]
    for pool in (outward, desk):
        if pool:
            return min(pool, key=lambda v: (v.dials[0].order, v.unique_id))
    with_hangup = [v for v in members if v.hangups]
    if with_hangup:
        preferred = [v for v in with_hangup if not v.is_local] or with_hangup
        return min(preferred, key=lambda v: (v.hangups[0].order, v.unique_id))
    return members[0]


def direction(primary: UidView, phone: str | None, trunk: str | None, call_type: str | None) -> str | None:
    """SPEC §4.2: the conversation's direction from its parties, not a hangup's CallType alone."""
    if is_extension(phone) and not trunk:
        return "2"
    if primary.starts:
        return "0"
    if call_type == "0" and not is_extension(phone):
        return "0"
    if call_type == "1" and not is_extension(phone):
        return "1"
    if primary.desk_extension and phone and not is_extension(phone):
        return "1"
    return call_type


class _Hold(NamedTuple):
    order: Order
    at: datetime | None
    party: str


def _far_end(view: UidView, by_bridge: dict[str, list[UidView]], pair: dict[str, UidView],
             usable: Callable[[str | None], bool], seen: frozenset[str] = frozenset()) -> str | None:
    """The party a channel stands for: a desk phone's extension, an outside line's number, and
    for a Local half whatever its other half is bridged with (its target as the fallback)."""
    if view.desk_extension:
        return view.desk_extension
    if view.outside_line:
        return next((r.caller for r in view.rows if usable(r.caller)), None)
    if not view.is_local or view.channel is None:
        return None
    other = pair.get(view.unique_id)
    seen = seen | {view.unique_id}
    if other is not None and len(seen) <= _LOCAL_DEPTH:
        seen = seen | {other.unique_id}
        for _, bridge in other.bridges:
            for member in by_bridge.get(bridge or "", ()):
                if member.unique_id not in seen:
                    found = _far_end(member, by_bridge, pair, usable, seen)
                    if usable(found):
                        return found
    return view.channel.resource


def _holds(
    members: list[UidView], side: list[UidView], other_side: str | None, trunks: set[str],
) -> list[_Hold]:
    """Who held the conversation, in row order (SPEC §4.2).

    Three readings of the bridge rows: the side's own channel entering a bridge names who it is
    connected to (ConnectedLineNum); another channel entering a bridge connected to the side is
    that channel's party taking the call (this shows a colleague who joins the caller's bridge
    even where APIlogs rows carry no BridgeUniqueid); the side's last leave names who had it at
    the end. ConnectedLineNum on other leave rows lags behind transfers, so it is not read.
    When the side's entry names nobody usable, the other members of that bridge decide.
    """
    by_bridge: dict[str, list[UidView]] = defaultdict(list)
    for v in members:
        for _, bridge in v.bridges:
            if bridge and v not in by_bridge[bridge]:
                by_bridge[bridge].append(v)
    pair = _local_pairs(members) if any(v.is_local for v in members) else {}
    side_ids = frozenset(v.unique_id for v in side)

    def usable(party: str | None) -> bool:
        return (
            party is not None and party.lower() not in _NO_PARTY and party != other_side
            and party not in trunks
        )

    holds: list[_Hold] = []
    for view in side:
        own = view.channel.name if view.channel else None
        mine = [(r, b) for r, b in view.bridges if own is None or r.channel in (None, own)]
        for position, (row, bridge) in enumerate(mine):
            last = position == len(mine) - 1
            if row.kind == "bridge_leave" and not last:
                continue
            party = row.connected if usable(row.connected) else None
            if party is None and bridge and row.kind == "bridge":
                for member in by_bridge.get(bridge, ()):
                    if member.unique_id not in side_ids:
                        found = _far_end(member, by_bridge, pair, usable, side_ids)
                        if usable(found):
                            party = found
                            break
            if party is not None:
                holds.append(_Hold(row.order, row.at, party))
    if other_side:
        for view in members:
            if view.unique_id in side_ids:
                continue
            own = view.channel.name if view.channel else None
            for row, _ in view.bridges:
                if row.kind == "bridge" and row.connected == other_side and (own is None or row.channel in (None, own)):
                    party = _far_end(view, by_bridge, pair, usable, side_ids)
                    if usable(party):
                        holds.append(_Hold(row.order, row.at, party))  # type: ignore[arg-type]
    holds.sort()
    return holds


def _local_pairs(members: list[UidView]) -> dict[str, UidView]:
    by_base: dict[str, list[UidView]] = defaultdict(list)
    for v in members:
        if v.channel is not None and v.channel.local_base is not None:
            by_base[v.channel.local_base].append(v)
    pair: dict[str, UidView] = {}
    for halves in by_base.values():
        ones = [v for v in halves if v.channel and v.channel.local_half == 1]
        twos = [v for v in halves if v.channel and v.channel.local_half == 2]
        for one, two in zip(sorted(ones, key=lambda v: v.first), sorted(twos, key=lambda v: v.first)):
            pair[one.unique_id], pair[two.unique_id] = two, one
    return pair


def _conversation(members: list[UidView], enterprise: Enterprise, tz: ZoneInfo, data_source: str) -> Conversation:
    primary = _primary(members)
    uids = tuple(v.unique_id for v in members)
    live_delivered = any(h.live_table and h.delivered for h in primary.hangups)
    if not primary.hangups:
        return Conversation(primary.unique_id, uids, None, (), (), live_delivered=live_delivered)
    chosen = choose_hangup(primary.hangups)
    assert chosen.hangup_json is not None
    body: dict[str, Any] = _load(chosen.hangup_json)
    start = local_to_utc(_start_local(body, chosen), tz)
    end = local_to_utc(chosen.end_local, tz)
    duration = None
    if start is not None and end is not None and end >= start:
        duration = int((end - start).total_seconds())
    call_status = as_text(body.get("CallStatus"))
    phone = as_text(body.get("Phone"))
    trunk = as_text(body.get("Trunk"))
    kind = direction(primary, _stripped(phone), _stripped(trunk), call_type_text(body.get("CallType")))

    primary_dials = tuple(dict.fromkeys(e for d in primary.dials for e in d.extensions))
    call_extensions = chosen.extensions or primary_dials

    # The other side, and the channels that carry it.
    other_side: str | None
    if kind == "2":
        other_side = primary.desk_extension or _stripped(phone)
        side = [primary]
    elif kind == "1" and primary.desk_extension:
        other_side = _stripped(phone)
        side = [v for v in members if v.outside_line and v is not primary]
    else:
        other_side = _stripped(phone)
        side = [primary]
    has_bridges = any(v.bridges for v in members)
    holds: list[_Hold] = []
    if has_bridges:
        trunks = {t for v in members for t in [v.outside_line] if t}
        trunks.update(t for v in members for r in v.rows for t in [r.trunk] if t)
        holds = _holds(members, side, other_side, trunks)
    if kind == "1" and primary.desk_extension and (has_bridges or holds):
        first_at = next((r.at for r, _ in primary.bridges), None)
        first_order = next((r.order for r, _ in primary.bridges), primary.first)
        holds.insert(0, _Hold(first_order, first_at, primary.desk_extension))
    if holds:
        chain: list[str] = []
        first_hold: dict[str, _Hold] = {}
        for hold in holds:
            if not chain or chain[-1] != hold.party:
                chain.append(hold.party)
            first_hold.setdefault(hold.party, hold)
        is_answered = True
        answered_at = holds[0].at
    else:
        # No bridge rows (or none that names a party): the PBX's own status decides.
        is_answered = call_status == "2"
        chain = list(call_extensions) if is_answered else []
        first_hold = {}
        answered_at = None

    # Participants (SPEC §4.4).
    leg_dials = [d for v in members if v is not primary for d in v.dials]
    ordered: dict[str, None] = {}
    for party in (*primary_dials, *(e for d in sorted(leg_dials) for e in d.extensions),
                  *call_extensions, *chain):
        if party != other_side:  # the call's own other side is not a participant
            ordered.setdefault(party, None)
    first_dial: dict[str, datetime] = {}
    for d in sorted([*primary.dials, *leg_dials]):
        if d.at is not None:
            for e in d.extensions:
                first_dial.setdefault(e, d.at)
    first_bridge: dict[str, datetime | None] = {}
    for r in sorted(r for v in members for r, _ in v.bridges):
        if r.caller is not None:
            first_bridge.setdefault(r.caller, r.at)
    no_bridge_answer = set(chosen.extensions) if not holds and is_answered else set()
    participants = []
    for position, party in enumerate(ordered, start=1):
        dial_at = first_dial.get(party)
        held = first_hold.get(party)
        answer_time = held.at if held else first_bridge.get(party)
        talk = chain.index(party) + 1 if party in chain else None
        answered = party in chain if holds else party in no_bridge_answer
        participants.append(Participant(
            unique_id=primary.unique_id, extension=party,
            participant_status="answered" if answered else "no_answer", ring_order=position,
            dial_start=dial_at or start, answer_time=answer_time, hangup_time=end,
            talk_order=talk if answered else None,
        ))

    if len(members) == 1:
        legs: tuple[Leg, ...] = (_leg(primary, True, tz, (chosen, body, start, end)),)
    else:
        ordered_legs = sorted(members, key=lambda v: (v is not primary, _uid_key(v.unique_id)))
        legs = tuple(
            _leg(v, v is primary, tz, (chosen, body, start, end) if v is primary else None)
            for v in ordered_legs
        )
    call = Call(
        unique_id=primary.unique_id, enterprise_id=enterprise.number, token=enterprise.secret,
        start_time=start, end_time=end, duration=duration, phone_number=phone, trunk=trunk,
        main_extension=call_extensions[0] if call_extensions else None,
        extensions_count=len(call_extensions), call_type=kind, call_status=call_status,
        is_answered=is_answered, data_source=data_source, asterisk_host=enterprise.host,
        raw_json=chosen.hangup_json,
        answered_by=chain[0] if chain else None,
        answered_at=answered_at if chain else None,
        final_extension=chain[-1] if chain else None,
        transfer_chain=_json_text(chain),
        leg_count=len(legs),
    )
    return Conversation(primary.unique_id, uids, call, legs, tuple(participants),
                        live_delivered=live_delivered)


def _forwarding_only(members: list[UidView], enterprise: Enterprise, tz: ZoneInfo) -> Conversation:
    legs = tuple(_leg(v, False, tz) for v in sorted(members, key=lambda v: _uid_key(v.unique_id)))
    first = members[0].unique_id
    return Conversation(first, tuple(v.unique_id for v in members), None, legs, (), forwarding_only=True)


def _leg(
    view: UidView, is_primary: bool, tz: ZoneInfo,
    known: tuple[ConvRow, dict[str, Any], datetime | None, datetime | None] | None = None,
) -> Leg:
    """``known``: the primary's chosen hangup, body and times, already worked out."""
    if known is not None:
        chosen: ConvRow | None
        chosen, body, start, end = known
    else:
        chosen = choose_hangup(view.hangups) if view.hangups else None
        body = _load(chosen.hangup_json) if chosen and chosen.hangup_json else {}
        if chosen is not None:
            start = local_to_utc(_start_local(body, chosen), tz)
            end = local_to_utc(chosen.end_local, tz)
        else:
            start, end = view.span()
    extensions = body.get("Extensions")
    return Leg(
        unique_id=view.unique_id,
        role="primary" if is_primary else "leg",
        channel=view.channel.name if view.channel else None,
        call_type=call_type_text(body.get("CallType")) if chosen else None,
        call_status=as_text(body.get("CallStatus")) if chosen else None,
        phone_number=as_text(body.get("Phone")) if chosen else None,
        extensions=_json_text(extensions) if extensions is not None else None,
        start_time=start,
        end_time=end,
        raw_json=chosen.hangup_json if chosen else None,
    )
