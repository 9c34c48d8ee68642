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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import orjson

from .grouping import UnionFind
from .model import CONVERSATION_TYPES, Call, Enterprise, Leg, Participant
from .normalize import (
    as_text,
    call_type_text,
    local_to_utc,
    normalize_extensions,
    parse_body,
    parse_plausible,
)

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
    call_type: str | None = None  # CallType of a dial or hangup ('2': a consultation hop)


class SourceEvent(Protocol):
    """What :func:`conv_row` reads of one parsed source row: an import's ``Event``, or a
    sighting read back from the warehouse with its body."""

    @property
    def unique_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def event_timestamp(self) -> datetime | None: ...
    @property
    def canonical_json(self) -> str: ...
    @property
    def delivered(self) -> bool: ...
    @property
    def body(self) -> dict[str, Any]: ...


def conv_row(event: SourceEvent, order: Order, live_table: bool) -> ConvRow | None:
    """The assembly's view of one event read at ``order`` (file date, source id); None when a
    conversation never reads it.

    Runs once per source row: each event type reads only the fields it carries.
    """
    unique_id, kind = event.unique_id, event.event_type
    if not unique_id or kind not in CONVERSATION_TYPES:
        return None
    at, delivered = event.event_timestamp, event.delivered
    get = event.body.get
    # ConvRow's sixteen fields in order, built without its keyword-handling __new__
    if kind == "hangup":
        return _new_row(ConvRow, (
            order, at, unique_id, kind, None, None, None, None,
            normalize_extensions(get("Extensions")), _strip(get("Phone")), _strip(get("Trunk")),
            delivered, live_table, event.canonical_json, parse_plausible(get("EndTime"), order[0]),
            call_type_text(get("CallType")),
        ))
    if kind == "dial":
        return _new_row(ConvRow, (
            order, at, unique_id, kind, None, None, None, None,
            normalize_extensions(get("Extensions")), _strip(get("Phone")), _strip(get("Trunk")),
            delivered, live_table, None, None, call_type_text(get("CallType")),
        ))
    if kind == "start":
        return _new_row(ConvRow, (
            order, at, unique_id, kind, None, None, None, None, (), _strip(get("Phone")),
            _strip(get("Trunk")), delivered, live_table, None, None, None,
        ))
    return _new_row(ConvRow, (  # bridge, bridge_leave, new_callerid
        order, at, unique_id, kind, _strip(get("Channel")),
        _strip(get("BridgeUniqueid")) if kind != "new_callerid" else None,
        _strip(get("CallerIDNum")), _strip(get("ConnectedLineNum")), (), None, None,
        delivered, live_table, None, None, None,
    ))


_new_row = tuple.__new__  # a NamedTuple from its values in field order (conv_row: once per row)


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


@lru_cache(maxsize=4096)
def parse_channel(name: str | None) -> Channel | None:
    """A channel name's parts (cached: a call's rows name its channels again within seconds;
    a small cache, as every entry keeps its name alive)."""
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
    # One UniqueId carrying both channels of a call (the one-UniqueId files): its own channel is
    # the calling party's — the start row's Phone (incoming), else an extension's dial or hangup
    # Phone (internal) — whichever channel's row came first.
    calling = next((r.phone for r in rows if r.kind == "start" and r.phone), None) or next(
        (r.phone for r in rows if r.kind in ("dial", "hangup") and is_extension(r.phone)), None)
    if calling is not None:
        own = next((r.channel for r in rows if r.channel and r.unique_id == unique_id
                    and r.caller == calling and not r.channel.startswith("Local/")), own)
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
    """The assembly's union-find over UniqueIds; the representative is the smallest first row.

    Every union that joins two groups is kept as an edge (rule, key): the tree of a
    conversation's edges says, for each leg, which rule linked it (``call_legs.link``) and on
    what (a bridge id, a Local channel name, a forwarding target) — ``--explain`` reads it.
    """

    def __init__(self, views: dict[str, UidView]) -> None:
        self.sets = UnionFind(views, rank=lambda uid: (views[uid].first, uid))
        self.views = views
        self.edges: list[tuple[str, str, str, str]] = []  # (a, b, rule, key)

    def find(self, uid: str) -> str:
        return self.sets.find(uid)

    def union(self, a: str, b: str, rule: str, key: str) -> None:
        if self.sets.union(a, b) is not None:
            self.edges.append((a, b, rule, key))

    def components(self) -> dict[str, list[str]]:
        groups = self.sets.components()
        views = self.views
        for members in groups.values():
            members.sort(key=lambda u: (views[u].first, u))
        return groups

    def adjacency(self) -> dict[str, list[tuple[str, str, str]]]:
        adj: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for a, b, rule, key in self.edges:
            adj[a].append((b, rule, key))
            adj[b].append((a, rule, key))
        return adj


class _Link(NamedTuple):
    """Why a UniqueId is in its conversation: the rule, the leg it was linked to, and on what."""

    rule: str  # 'primary' | 'bridge' | 'local' | 'forwarding'
    via: str | None
    key: str | None


def _links(
    root: str, adj: dict[str, list[tuple[str, str, str]]], views: dict[str, UidView], pairs: dict[str, UidView],
) -> dict[str, _Link]:
    """Why each leg belongs (``call_legs.link``), read off the conversation's tree of links.

    A leg is labelled by what its own rows say: a Local half whose other half is in the
    conversation is ``'local'`` (rule 2), and ``'forwarding'`` when the pair joined the call by
    rule 3; any other leg by the edge that reached it (a bridge). The label does not depend on
    which of several edges happened to join two groups first.
    """
    found = {root: _Link("primary", None, None)}
    forward: dict[str, _Link] = {}  # leg → the rule-3 edge on its path from the primary
    todo = [root]
    while todo:
        here = todo.pop()
        for there, rule, key in adj.get(here, ()):
            if there not in found:
                found[there] = _Link(rule, here, key)
                if rule == "forwarding":
                    forward[there] = found[there]
                elif here in forward:
                    forward[there] = forward[here]
                todo.append(there)
    for uid, link in found.items():
        view = views[uid]
        if link.rule == "primary" or not view.is_local:
            continue
        if uid in forward:
            found[uid] = forward[uid]
        elif uid in pairs and view.channel is not None:
            found[uid] = _Link("local", pairs[uid].unique_id, view.channel.local_base)
    return found


def _link_bridges(groups: _Groups, views: dict[str, UidView]) -> None:
    members: dict[str, str] = {}
    for uid, view in views.items():
        for _, bridge in view.bridges:
            if bridge:
                first = members.setdefault(bridge, uid)
                groups.union(first, uid, "bridge", bridge)


def _overlap(a: UidView, b: UidView, slack_s: float = 60.0) -> bool:
    a0, a1 = a.span()
    b0, b1 = b.span()
    if a0 is None or b0 is None or a1 is None or b1 is None:
        return True  # unusable times: the consecutive UniqueIds and the file decide
    return (a0 - b1).total_seconds() <= slack_s and (b0 - a1).total_seconds() <= slack_s


def _local_halves(views: dict[str, UidView]) -> list[tuple[UidView, UidView, str]]:
    """SPEC §4.2 rule 2: the ;1 and ;2 halves of one Local channel name, in one file,
    overlapping in time — (;1, ;2, name) of each pair.

    The counter in the name restarts with Asterisk, so the name alone is not enough: the halves
    are created together and get consecutive UniqueIds, which decides when it is known.
    """
    halves: dict[tuple[date, str], tuple[list[UidView], list[UidView]]] = defaultdict(lambda: ([], []))
    for view in views.values():
        ch = view.channel
        if ch is not None and ch.local_base is not None and ch.local_half is not None:
            halves[(view.first[0], ch.local_base)][ch.local_half - 1].append(view)
    # In name order, not row order: which Local edge joins two groups (a leg's ``link``) must not
    # depend on how the rows were split into reads.
    pairs = []
    for (_, base), (ones, twos) in sorted(halves.items(), key=lambda item: item[0]):
        unpaired = list(twos)
        for one in sorted(ones, key=lambda v: (v.first, v.unique_id)):
            match = _other_half(one, unpaired, alone=len(ones) == 1)
            if match is not None and _overlap(one, match):
                unpaired.remove(match)
                pairs.append((one, match, base))
    return pairs


def _link_local_halves(groups: _Groups, pairs: list[tuple[UidView, UidView, str]]) -> None:
    for one, two, base in pairs:
        groups.union(one.unique_id, two.unique_id, "local", base)


def _other_half(one: UidView, twos: list[UidView], *, alone: bool) -> UidView | None:
    """The ;2 half created with ``one``: the next UniqueId; else, when ``one`` is the only ;1
    half of its name in the file (``alone``), the one ;2 half overlapping it in time."""
    parts = _uid_parts(one.unique_id)
    if parts is not None:
        for two in twos:
            other = _uid_parts(two.unique_id)
            if other and other[1] == parts[1] + 1 and abs(other[0] - parts[0]) <= 1:
                return two
    close = [two for two in twos if _overlap(one, two)]
    return close[0] if alone and len(close) == 1 else None


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


def _is_consultation(views: Sequence[UidView]) -> bool:
    """A consultation hop (SPEC §2.3): a Local channel whose dial or hangup says CallType 2.

    It is no forwarding leg: rule 3 never hands it to a call that merely rings its target (on a
    busy day another call ringing the consulted colleague would take it).
    """
    return any(r.call_type == "2" for v in views if v.is_local for r in (*v.dials, *v.hangups))


def _ringing(components: dict[str, list[str]], views: dict[str, UidView]) -> dict[str, list[str]]:
    """Calls by the targets their own channels dial: one look-up per forwarding leg, not a scan
    of every call (a busy day has thousands of calls and hundreds of forwarding legs)."""
    ringing: dict[str, list[str]] = defaultdict(list)
    for rep, uids in components.items():
        targets = {e for u in uids if views[u].own_channel for d in views[u].dials for e in d.extensions}
        for target in targets:
            ringing[target].append(rep)
    return ringing


def _open_at(span: tuple[datetime | None, datetime | None], begun: datetime | None) -> bool:
    """A call whose rows span ``begun`` (unknown times do not rule it out)."""
    first, last = span
    return begun is None or first is None or last is None or first <= begun <= last


def _link_forwarding(groups: _Groups, views: dict[str, UidView]) -> tuple[set[str], dict[str, list[str]]]:
    """Rule 3: a forwarding leg joins the one open call whose dial lists its target.

    Returns the representatives of Local channels tied to no call — forwarding legs with zero or
    several candidates, consultation hops no bridge links: they stay unlinkable (stored as legs
    without a call), never a call of their own — and the groups' components after the joins.
    """
    components = groups.components()
    ringing = _ringing(components, views)
    spans: dict[str, tuple[datetime | None, datetime | None]] = {}
    unlinkable: set[str] = set()
    joins: list[tuple[str, str, str]] = []
    for rep, uids in components.items():
        legs = [views[u] for u in uids]
        if not _is_forwarding(legs):
            continue
        if _is_consultation(legs):
            unlinkable.add(rep)
            continue
        target = next(v.channel.resource for v in legs if v.is_local and v.channel)
        begun = _component_span(legs)[0]
        candidates = []
        for call_rep in ringing.get(target, ()):
            if call_rep not in spans:
                spans[call_rep] = _component_span([views[u] for u in components[call_rep]])
            if _open_at(spans[call_rep], begun):
                candidates.append(call_rep)
        if len(candidates) == 1:
            joins.append((candidates[0], rep, target))
        else:
            unlinkable.add(rep)
    for call_rep, rep, target in joins:
        # the edge runs from the call's channel whose dial lists the target to the Local half
        # that dials on (or the first one): the rows --explain shows
        caller = next((u for u in components[call_rep] if views[u].own_channel
                       and any(target in d.extensions for d in views[u].dials)), call_rep)
        leg = next((u for u in components[rep] if views[u].dials), rep)
        groups.union(caller, leg, "forwarding", target)
    return unlinkable, groups.components() if joins else components


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
    explain: dict[str, Any] | None = None  # why it is one call (``assemble(explain=True)``)


def assemble(
    rows: Iterable[ConvRow], enterprise: Enterprise, tz: ZoneInfo, data_source: str,
    explain: bool = False,
) -> list[Conversation]:
    """Every conversation the rows of one table describe, in order of their first row.

    ``explain``: each conversation also says which rule and source rows linked every leg, which
    bridge rows made each holder and why each other participant did not answer (``calls show
    --explain``). The same rules run either way; only the record is extra.
    """
    by_uid: dict[str, list[ConvRow]] = defaultdict(list)
    for row in rows:
        by_uid[row.unique_id].append(row)
    views = {uid: _view(uid, uid_rows) for uid, uid_rows in by_uid.items()}
    groups = _Groups(views)
    _link_bridges(groups, views)
    halves = _local_halves(views)
    _link_local_halves(groups, halves)
    unlinkable, components = _link_forwarding(groups, views)
    pair = {one.unique_id: two for one, two, _ in halves} | {two.unique_id: one for one, two, _ in halves}
    assembly = _Assembly(enterprise, tz, data_source, groups.adjacency(), pair, explain)
    out = []
    for rep, uids in components.items():
        members = [views[u] for u in uids]
        if rep in unlinkable and groups.find(rep) == rep and _is_forwarding(members):
            out.append(_forwarding_only(members, assembly))
        else:
            out.append(_conversation(members, assembly))
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
    row: ConvRow  # the bridge row that says so (``--explain``)
    reading: str  # 'connected' | 'bridge member' | 'entered connected to the other side' | 'last leave'


class _Scene(NamedTuple):
    """What reading a conversation's bridge rows needs: its channels by bridge, the halves of
    its Local channels, the UniqueIds of the side, and who would be no party."""

    by_bridge: dict[str, list[UidView]]
    pair: dict[str, UidView]
    side_ids: frozenset[str]
    other_side: str | None
    trunks: set[str]

    def usable(self, party: str | None) -> bool:
        return (
            party is not None and party.lower() not in _NO_PARTY and party != self.other_side
            and party not in self.trunks
        )


def _far_end(view: UidView, scene: _Scene, seen: frozenset[str] = frozenset()) -> str | None:
    """The party a channel stands for: a desk phone's extension, an outside line's number, and
    for a Local half whatever its other half is bridged with (its target as the fallback)."""
    if view.desk_extension:
        return view.desk_extension
    if view.outside_line:
        return next((r.caller for r in view.rows if scene.usable(r.caller)), None)
    if not view.is_local or view.channel is None:
        return None
    other = scene.pair.get(view.unique_id)
    seen = seen | {view.unique_id}
    if other is not None and len(seen) <= _LOCAL_DEPTH:
        seen = seen | {other.unique_id}
        for _, bridge in other.bridges:
            for member in scene.by_bridge.get(bridge or "", ()):
                if member.unique_id not in seen:
                    found = _far_end(member, scene, seen)
                    if scene.usable(found):
                        return found
    return view.channel.resource


def _holds(
    members: list[UidView], side: list[UidView], other_side: str | None, trunks: set[str],
    pair: dict[str, UidView],
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
    scene = _Scene(by_bridge, pair, frozenset(v.unique_id for v in side), other_side, trunks)
    holds = [hold for view in side for hold in _side_holds(view, scene)]
    if other_side:
        holds.extend(_joined_holds(members, other_side, scene))
    holds.sort(key=_ORDER)
    return holds


def _own_rows(view: UidView) -> list[tuple[ConvRow, str | None]]:
    """A channel's bridge rows that speak for its own channel (or name none)."""
    own = view.channel.name if view.channel else None
    return [(r, b) for r, b in view.bridges if own is None or r.channel in (None, own)]


def _side_holds(view: UidView, scene: _Scene) -> list[_Hold]:
    """The side's own readings: whom each entry is connected to, and its last leave."""
    mine = _own_rows(view)
    holds = []
    for position, (row, bridge) in enumerate(mine):
        if row.kind == "bridge_leave" and position != len(mine) - 1:
            continue
        party = row.connected if scene.usable(row.connected) else None
        reading = "last leave" if row.kind == "bridge_leave" else "connected"
        if party is None and bridge and row.kind == "bridge":
            party = _bridge_member(bridge, scene)
            reading = "bridge member"
        if party is not None:
            holds.append(_Hold(row.order, row.at, party, row, reading))
    return holds


def _bridge_member(bridge: str, scene: _Scene) -> str | None:
    """The party of the first other member of ``bridge`` that stands for somebody usable."""
    for member in scene.by_bridge.get(bridge, ()):
        if member.unique_id not in scene.side_ids:
            found = _far_end(member, scene, scene.side_ids)
            if scene.usable(found):
                return found
    return None


def _joined_holds(members: list[UidView], other_side: str, scene: _Scene) -> list[_Hold]:
    """Other channels entering a bridge connected to the other side: their party took the call."""
    holds = []
    for view in members:
        if view.unique_id in scene.side_ids:
            continue
        for row, _ in _own_rows(view):
            if row.kind == "bridge" and row.connected == other_side:
                party = _far_end(view, scene, scene.side_ids)
                if party is not None and scene.usable(party):
                    holds.append(_Hold(row.order, row.at, party, row, "joined"))
    return holds


class _Assembly(NamedTuple):
    """What every conversation of one assembly shares."""

    enterprise: Enterprise
    tz: ZoneInfo
    data_source: str
    adjacency: dict[str, list[tuple[str, str, str]]]
    pair: dict[str, UidView]  # each Local half → its other half (rule 2; both in one conversation)
    explain: bool


class _Facts(NamedTuple):
    """The call's own fields, read off its primary's chosen hangup (SPEC §4.2)."""

    chosen: ConvRow
    raw_json: str  # the chosen hangup's canonical body
    body: dict[str, Any]
    start: datetime | None
    end: datetime | None
    call_status: str | None
    phone: str | None
    trunk: str | None
    kind: str | None  # the direction
    primary_dials: tuple[str, ...]  # what the primary's own dials rang, in order
    call_extensions: tuple[str, ...]  # the chosen hangup's Extensions, else primary_dials

    @property
    def duration(self) -> int | None:
        start, end = self.start, self.end
        if start is not None and end is not None and end >= start:
            return int((end - start).total_seconds())
        return None


def _facts(primary: UidView, tz: ZoneInfo) -> _Facts:
    """The call's fields from the primary's chosen hangup (SPEC §4.2: a parsable EndTime first)."""
    chosen = choose_hangup(primary.hangups)
    raw_json = chosen.hangup_json
    assert raw_json is not None
    body: dict[str, Any] = _load(raw_json)
    phone = as_text(body.get("Phone"))
    trunk = as_text(body.get("Trunk"))
    kind = direction(primary, _stripped(phone), _stripped(trunk), call_type_text(body.get("CallType")))
    primary_dials = tuple(dict.fromkeys(e for d in primary.dials for e in d.extensions))
    return _Facts(
        chosen, raw_json, body, local_to_utc(_start_local(body, chosen), tz), local_to_utc(chosen.end_local, tz),
        as_text(body.get("CallStatus")), phone, trunk, kind, primary_dials,
        chosen.extensions or primary_dials,
    )


def _other_side(facts: _Facts, primary: UidView, members: list[UidView]) -> tuple[str | None, list[UidView]]:
    """Whom the call is with, and the channels that carry it."""
    phone = _stripped(facts.phone)
    if facts.kind == "2":
        return primary.desk_extension or phone, [primary]
    if facts.kind == "1" and primary.desk_extension:
        return phone, [v for v in members if v.outside_line and v is not primary]
    return phone, [primary]


class _Holding(NamedTuple):
    """Who held the conversation (SPEC §4.2): the holds its bridge rows show, and the chain."""

    has_bridges: bool
    forwarded: bool  # a forwarding or FollowMe target rang
    holds: list[_Hold]
    dropped: dict[str, _Hold]  # parties that rang beside a forward, named but never bridged
    chain: list[str]
    first_hold: dict[str, _Hold]
    is_answered: bool
    answered_at: datetime | None


def _holding(
    members: list[UidView], primary: UidView, facts: _Facts, facing: tuple[str | None, list[UidView]],
    pair: dict[str, UidView],
) -> _Holding:
    """The holders in turn: bridge rows first; a calling desk phone holds its outgoing call from
    the start; without a usable bridge row the PBX's CallStatus decides. ``facing``: the other
    side and the channels that carry the call (``_other_side``)."""
    other_side, side = facing
    has_bridges = any(v.bridges for v in members)
    holds: list[_Hold] = []
    if has_bridges:
        trunks = {t for v in members for t in [v.outside_line] if t}
        trunks.update(t for v in members for r in v.rows for t in [r.trunk] if t)
        holds = _holds(members, side, other_side, trunks, pair)
    forwarded = _forwarded(members, facts.primary_dials)
    dropped: dict[str, _Hold] = {}
    if forwarded and holds:
        holds, dropped = _bridged_only(members, holds)
    if facts.kind == "1" and primary.desk_extension and (has_bridges or holds):
        first_row = next((r for r, _ in primary.bridges), primary.rows[0])
        first_order = first_row.order if primary.bridges else primary.first
        holds.insert(0, _Hold(first_order, first_row.at, primary.desk_extension, first_row, "calling extension"))
    if holds:
        chain: list[str] = []
        first_hold: dict[str, _Hold] = {}
        for hold in holds:
            if not chain or chain[-1] != hold.party:
                chain.append(hold.party)
            first_hold.setdefault(hold.party, hold)
        return _Holding(has_bridges, forwarded, holds, dropped, chain, first_hold, True, holds[0].at)
    # No bridge rows (or none that names a party): the PBX's own status decides.
    is_answered = facts.call_status == "2"
    chain = list(facts.call_extensions) if is_answered else []
    return _Holding(has_bridges, forwarded, holds, dropped, chain, {}, is_answered, None)


def _bridged_only(members: list[UidView], holds: list[_Hold]) -> tuple[list[_Hold], dict[str, _Hold]]:
    """SPEC §4.2: a party that rang alongside a forwarding or FollowMe target holds only when its
    own channel was bridged; a desk phone named by a stale ConnectedLineNum while the mobile
    took the call is no holder. Returns the holds kept and the first hold of each dropped party."""
    bridged = {v.desk_extension for v in members if v.desk_extension and v.bridges}
    kept = []
    dropped: dict[str, _Hold] = {}
    for hold in holds:
        if is_extension(hold.party) and hold.party not in bridged:
            dropped.setdefault(hold.party, hold)
        else:
            kept.append(hold)
    return kept, dropped


class _Parts(NamedTuple):
    """A conversation worked out step by step: what its call, participants, legs and
    ``--explain`` record are all read from."""

    members: list[UidView]
    primary: UidView
    facts: _Facts
    other_side: str | None
    holding: _Holding
    consulted: dict[str, tuple[UidView, ConvRow]]  # consultation target → (Local half, hangup)
    pair: dict[str, UidView]  # Local half → its other half (``_Assembly.pair``)


def _conversation(members: list[UidView], assembly: _Assembly) -> Conversation:
    primary = _primary(members)
    uids = tuple(v.unique_id for v in members)
    live_delivered = any(h.live_table and h.delivered for h in primary.hangups)
    if not primary.hangups:
        return Conversation(primary.unique_id, uids, None, (), (), live_delivered=live_delivered)
    facts = _facts(primary, assembly.tz)
    facing = _other_side(facts, primary, members)
    other_side = facing[0]
    holding = _holding(members, primary, facts, facing, assembly.pair)
    # Consultation hops (SPEC §2.3: a Local channel whose hangup says CallType 2): their target
    # rang, answered or not (an unanswered consultation keeps its target, 'no_answer').
    consulted = {} if len(members) == 1 else _consultations(members)
    parts = _Parts(members, primary, facts, other_side, holding, consulted, assembly.pair)
    participants, first_dial = _participants(parts)
    links, legs = _legs(parts, assembly)
    shape = _shape(parts, len(participants))
    call = _call(parts, assembly, len(legs), shape)
    why = _explanation(parts, links, participants, first_dial, shape) if assembly.explain else None
    return Conversation(primary.unique_id, uids, call, legs, tuple(participants),
                        live_delivered=live_delivered, explain=why)


def _participants(parts: _Parts) -> tuple[list[Participant], dict[str, ConvRow]]:
    """SPEC §4.4: every party that rang or held, in ring order; and each party's first dial."""
    primary, holding, facts = parts.primary, parts.holding, parts.facts
    leg_dials = [d for v in parts.members if v is not primary for d in v.dials]
    first_dial: dict[str, ConvRow] = {}
    for d in sorted([*primary.dials, *leg_dials], key=_ORDER):
        for e in d.extensions:
            first_dial.setdefault(e, d)
    first_bridge = _first_bridges(parts.members)
    chain, holds = holding.chain, holding.holds
    no_bridge_answer = set(facts.chosen.extensions) if not holds and holding.is_answered else set()
    participants = []
    for position, party in enumerate(_parties(parts, leg_dials), start=1):
        dialled = first_dial.get(party)
        dial_at = dialled.at if dialled is not None else None
        held = holding.first_hold.get(party)
        answer_time = held.at if held else first_bridge.get(party)
        talk = chain.index(party) + 1 if party in chain else None
        answered = party in chain if holds else party in no_bridge_answer
        participants.append(Participant(
            unique_id=primary.unique_id, extension=party,
            participant_status="answered" if answered else "no_answer", ring_order=position,
            dial_start=dial_at or facts.start, answer_time=answer_time, hangup_time=facts.end,
            talk_order=talk if answered else None,
        ))
    return participants, first_dial


def _parties(parts: _Parts, leg_dials: list[ConvRow]) -> dict[str, None]:
    """The parties in ring order: the primary's dials, the legs' dials, the hangup's
    Extensions, the holders, the consulted; the call's own other side is not one."""
    ordered: dict[str, None] = {}
    facts = parts.facts
    for party in (*facts.primary_dials, *(e for d in sorted(leg_dials, key=_ORDER) for e in d.extensions),
                  *facts.call_extensions, *parts.holding.chain,
                  *_consulted_parties(parts.consulted, parts.pair)):
        if party != parts.other_side:
            ordered.setdefault(party, None)
    return ordered


def _first_bridges(members: list[UidView]) -> dict[str, datetime | None]:
    """When each caller number first entered a bridge."""
    first_bridge: dict[str, datetime | None] = {}
    for r in sorted((r for v in members for r, _ in v.bridges), key=_ORDER):
        if r.caller is not None:
            first_bridge.setdefault(r.caller, r.at)
    return first_bridge


def _legs(parts: _Parts, assembly: _Assembly) -> tuple[dict[str, _Link], tuple[Leg, ...]]:
    """Why each UniqueId belongs, and its leg: the primary first, then in UniqueId order."""
    primary, f, tz = parts.primary, parts.facts, assembly.tz
    known = (f.chosen, f.body, f.start, f.end)
    if len(parts.members) == 1:
        return {primary.unique_id: _Link("primary", None, None)}, (_leg(primary, True, tz, known, "primary"),)
    links = _links(primary.unique_id, assembly.adjacency, {v.unique_id: v for v in parts.members}, assembly.pair)
    ordered = sorted(parts.members, key=lambda v: (v is not primary, _uid_key(v.unique_id)))
    legs = tuple(
        _leg(v, v is primary, tz, known if v is primary else None,
             links[v.unique_id].rule if v.unique_id in links else None)
        for v in ordered
    )
    return links, legs


def _call(parts: _Parts, assembly: _Assembly, leg_count: int, shape: str) -> Call:
    """The ``calls`` row of the conversation (SPEC §4.2)."""
    f, holding, enterprise = parts.facts, parts.holding, assembly.enterprise
    chain = holding.chain
    return Call(
        unique_id=parts.primary.unique_id, enterprise_id=enterprise.number, token=enterprise.secret,
        start_time=f.start, end_time=f.end, duration=f.duration, phone_number=f.phone, trunk=f.trunk,
        main_extension=f.call_extensions[0] if f.call_extensions else None,
        extensions_count=len(f.call_extensions), call_type=f.kind, call_status=f.call_status,
        is_answered=holding.is_answered, data_source=assembly.data_source,
        asterisk_host=enterprise.host, raw_json=f.raw_json,
        answered_by=chain[0] if chain else None,
        answered_at=holding.answered_at if chain else None,
        final_extension=chain[-1] if chain else None,
        transfer_chain=_json_text(chain),
        leg_count=leg_count,
        shape=shape,
    )


def _forwarded(members: list[UidView], primary_dials: tuple[str, ...]) -> bool:
    """A forwarding or FollowMe target rang (SPEC §2.3): the call dials an outside number, or
    one of its Local channels forwards (a dial or hangup with CallType 1, or an outside target)."""
    if any(not is_extension(e) for e in primary_dials):
        return True
    for v in members:
        ch = v.channel
        if ch is not None and ch.local_half is not None and (
            not is_extension(ch.resource) or any(r.call_type == "1" for r in (*v.dials, *v.hangups))
        ):
            return True
    return False


def _consultations(members: list[UidView]) -> dict[str, tuple[UidView, ConvRow]]:
    """Target → (Local half, its chosen hangup) of each consultation hop (CallType 2 hangup)."""
    found: dict[str, tuple[UidView, ConvRow]] = {}
    for v in members:
        ch = v.channel
        if ch is not None and ch.local_half is not None and v.hangups:
            chosen = choose_hangup(v.hangups)
            if chosen.call_type == "2":
                found.setdefault(ch.resource, (v, chosen))
    return found


def _consulted_parties(consulted: dict[str, tuple[UidView, ConvRow]], pair: dict[str, UidView]) -> list[str]:
    """The consultation targets that are parties themselves.

    A group or FollowMe number whose hop rang others on is no party: the ones it rang are (the
    number is only the fallback when nothing further is recorded, SPEC §4.2).
    """
    parties = []
    for target, (view, _) in consulted.items():
        halves = (view, pair.get(view.unique_id))
        rang = {e for half in halves if half is not None for d in half.dials for e in d.extensions}
        if not rang or target in rang:
            parties.append(target)
    return parties


def _shape(parts: _Parts, rang: int) -> str:
    """SPEC §4.2 ``calls.shape``: what happened, from the links and holds.

    Direction first (outgoing, internal); then two or more holders (attended when a consultation
    hop answered, blind when the caller's own channel dialled on after its first bridge) — a
    transfer to a FollowMe number is a transfer first; then a forwarding/FollowMe target that
    rang; nobody holding; an unanswered consultation; and a call that rang several parties
    ('group': ``rang``, its participants — in turn or at once) or one ('direct').
    """
    kind, chain, forwarded = parts.facts.kind, parts.holding.chain, parts.holding.forwarded
    consulted, primary = parts.consulted, parts.primary
    if kind == "1":
        return "outgoing"
    if kind == "2":
        return "internal"
    if len(set(chain)) >= 2:
        if any(_hangup_status(hangup) == "2" for _, hangup in consulted.values()):
            return "transfer_attended"
        first_bridge = next((r.order for r, _ in primary.bridges), None)
        if first_bridge is not None and any(d.order > first_bridge for d in primary.dials):
            return "transfer_blind"  # the caller's own channel was sent on to dial the next one
        return "transfer"
    if forwarded:
        return "followme"
    if not chain:
        return "unanswered"
    if consulted and all(t not in chain for t in consulted):
        return "consultation_unanswered"
    return "group" if rang > 1 else "direct"


def _hangup_status(hangup: ConvRow) -> str | None:
    return as_text(_load(hangup.hangup_json).get("CallStatus")) if hangup.hangup_json else None


def _forwarding_only(members: list[UidView], assembly: _Assembly) -> Conversation:
    """Local legs no call can claim (SPEC §4.2 rule 3): legs without a call, link 'forwarding'."""
    ordered = sorted(members, key=lambda v: _uid_key(v.unique_id))
    legs = tuple(_leg(v, False, assembly.tz, None, "forwarding") for v in ordered)
    first = members[0].unique_id
    why = None
    if assembly.explain:
        why = {"legs": [{
            "unique_id": v.unique_id, "link": "forwarding",
            "rule": "a Local channel tied to no call: rules 1-2 link it to no call's own channel"
                    " and rule 3 found zero or several open calls ringing its target",
            "rows": [_ref(r) for r in v.rows[:1]],
        } for v in ordered], "chain": [], "no_answer": []}
    return Conversation(first, tuple(v.unique_id for v in members), None, legs, (),
                        forwarding_only=True, explain=why)


def _leg(
    view: UidView, is_primary: bool, tz: ZoneInfo,
    known: tuple[ConvRow, dict[str, Any], datetime | None, datetime | None] | None = None,
    link: str | None = None,
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
        link=link,
    )


# ---------------------------------------------------------------------------------------------
# Why it is one call (``calls show --explain``)

_RULES = {
    "primary": "the primary: {why}",
    "bridge": "rule 1: its channel entered bridge {key} with {via}",
    "local": "rule 2: the other half of Local channel {key} ({via}), in one file, overlapping in time",
    "forwarding": "rule 3: a forwarding leg to {key}; the only open call ringing it is the one of {via}",
}


def _ref(row: ConvRow) -> dict[str, Any]:
    """A source row by table and id (ids restart in every day file, so the file's date too)."""
    return {
        "table": LIVE_SOURCE if row.live_table else HISTORY_SOURCE, "file_date": row.order[0].isoformat(),
        "source_id": row.order[1], "event": row.kind, "unique_id": row.unique_id,
    }


HISTORY_SOURCE, LIVE_SOURCE = "APIlogs", "AlternativeAPIlogs"


def _primary_reason(primary: UidView) -> str:
    if primary.starts:
        return "its start row (an incoming call)"
    if primary.dials and primary.desk_extension:
        return "a desk phone dialling"
    return "the earliest hangup"


def _link_rows(view: UidView, other: UidView | None, link: _Link) -> list[ConvRow]:
    """The source rows that made ``link``: both channels' rows naming the bridge, the halves'
    rows carrying the Local channel name, the dials that ring the forwarding target."""
    rule, key = link.rule, link.key
    pair = [v for v in (other, view) if v is not None]
    if rule == "primary":
        return (view.starts or view.dials or view.hangups or view.rows)[:1]
    if rule == "bridge":
        return [r for v in pair for r, bridge in v.bridges if bridge == key]
    if rule == "local":
        return [r for v in pair for r in [r for r in v.rows if r.channel is not None
                                           and r.channel.startswith(key or "\0")][:2]]
    return [*(d for d in (other.dials if other else ()) if key in d.extensions), *(view.dials or view.rows[:1])]


def _explanation(
    parts: _Parts, links: dict[str, _Link], participants: list[Participant],
    first_dial: dict[str, ConvRow], shape: str,
) -> dict[str, Any]:
    """The record ``--explain`` prints, read off the same links and holds the call was built from."""
    return {
        "shape": shape, "legs": _leg_reasons(parts, links), "chain": _chain_reasons(parts),
        "no_answer": _no_answer_reasons(parts, participants, first_dial),
    }


def _leg_reasons(parts: _Parts, links: dict[str, _Link]) -> list[dict[str, Any]]:
    """Each leg: the rule that linked it, to which leg, on what, and the rows that say so."""
    primary = parts.primary
    views = {v.unique_id: v for v in parts.members}
    legs = []
    for v in sorted(parts.members, key=lambda v: (v is not primary, _uid_key(v.unique_id))):
        link = links.get(v.unique_id, _Link("primary", None, None))
        key = link.key
        text = _RULES[link.rule].format(key=key, via=link.via, why=_primary_reason(primary))
        legs.append({
            "unique_id": v.unique_id, "link": link.rule, "linked_to": link.via, "on": key, "rule": text,
            "rows": [_ref(r) for r in sorted(_link_rows(v, views.get(link.via or ""), link), key=_ORDER)],
        })
    return legs


def _chain_reasons(parts: _Parts) -> list[dict[str, Any]]:
    """Each holder in turn with the bridge rows that made it one (or the PBX's status)."""
    holds, chain = parts.holding.holds, parts.holding.chain
    if not holds:
        call_status = parts.facts.call_status
        return [{"party": p, "position": i, "rows": [],
                 "reading": f"no bridge rows: the primary's CallStatus {call_status} (answered)"}
                for i, p in enumerate(chain, start=1)]
    entries: list[dict[str, Any]] = []
    hold_rows: list[dict[str, Any]] = []
    for hold in holds:
        if not entries or entries[-1]["party"] != hold.party:
            hold_rows = []
            entries.append({"party": hold.party, "position": len(entries) + 1, "rows": hold_rows})
        hold_rows.append({**_ref(hold.row), "reading": hold.reading})
    return entries


def _no_answer_reasons(
    parts: _Parts, participants: list[Participant], first_dial: dict[str, ConvRow],
) -> list[dict[str, Any]]:
    """Each participant that did not answer, why, and its first dial with the rows that say so."""
    forwards = {
        v.channel.resource: (v, choose_hangup(v.hangups)) for v in parts.members
        if v.channel is not None and v.channel.local_half is not None and v.hangups
    }
    no_answer = []
    for p in participants:
        if p.participant_status != "no_answer":
            continue
        party = p.extension
        dial = first_dial.get(party)
        rows: list[dict[str, Any]] = [_ref(dial)] if dial is not None else []
        why, evidence = _why_no_answer(parts, party, forwards)
        rows.extend(evidence)
        no_answer.append({"party": party, "why": why, "rows": rows})
    return no_answer


def _why_no_answer(
    parts: _Parts, party: str, forwards: dict[str, tuple[UidView, ConvRow]],
) -> tuple[str, list[dict[str, Any]]]:
    """Why ``party`` did not answer, with the rows beyond its first dial that say so."""
    dropped, call_status = parts.holding.dropped, parts.facts.call_status
    if party in dropped:
        why = ("rang alongside a forwarding or FollowMe target; named by a bridge row of the other"
               " side, but its own channel never entered a bridge (SPEC §4.2)")
        return why, [{**_ref(dropped[party].row), "reading": dropped[party].reading}]
    if party in parts.consulted:
        view, hangup = parts.consulted[party]
        why = (f"consulted over {view.channel.name if view.channel else 'a Local channel'}"
               f" (CallStatus {_hangup_status(hangup)}) and never held the conversation")
        return why, [_ref(hangup)]
    if party in forwards:
        view, hangup = forwards[party]
        why = (f"forwarded over {view.channel.name if view.channel else 'a Local channel'}"
               f" (its hangup: CallStatus {_hangup_status(hangup)}); the forward never held the"
               " conversation")
        return why, [_ref(hangup)]
    if not parts.holding.has_bridges:
        return f"no bridge rows: the PBX's status (CallStatus {call_status}) does not name it as the answerer", []
    return f"rang, but no bridge row connects its channel with the other side ({parts.other_side})", []
