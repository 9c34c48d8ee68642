"""A day's conversations in start order: when calls start, which shape each gets, and the busy
day (:func:`plan_calls`). Every draw comes from one ``random.Random`` seeded from the arguments.

``busy=True`` (``asterisk-pipeline simulate --busy N``) is the "busy day": N conversations, about
half of them multi-UniqueId, starting within N/10 seconds from 10:00 (the second of a paired shape
a little later) so that thousands are in progress at once, sharing the enterprise's few
extensions and trunks and a small pool of caller numbers; it adds two scenarios only a busy day
draws: ``transfer_unknown`` (a caller handed from one desk phone to another inside one bridge, so
the rows tell neither attended nor blind) and ``transfer_to_followme`` (an attended transfer to a
FollowMe number that rings the manager's desk phone and mobile; the mobile answers, the desk
phone only rang). A busy day also forwards to a manager's mobile that is already in another open
forward now and then: rule 3 then has two candidates, and the truth lists that forward's halves
as ``loose`` (legs stored without a call).
"""
from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Required, TypedDict, Unpack

from .calls import (
    ANSWERED_SHARE,
    BUSY_SHAPES,
    COMPLEX_SHARE,
    LAST_SECOND,
    SHAPES,
    SimCall,
    norm_exts,
)
from .dialplan import Draft, State, external_phone, pbx_of
from .dirt import dirty_probability
from .scenarios import build_complex
from .simple import build_call

_COMPLEX_SHAPES = SHAPES[1:]
_COMPLEX_WEIGHTS = (20, 8, 12, 5, 8, 6, 8, 8, 8, 4, 5)
_PAIRED = frozenset({"busy_manager", "concurrent_caller"})  # two conversations each


_BUSY_COMPLEX_SHAPES = (*_COMPLEX_SHAPES, *BUSY_SHAPES)
_BUSY_COMPLEX_WEIGHTS = (*_COMPLEX_WEIGHTS, 6, 6)


def start_seconds(rng: random.Random, n: int) -> list[int]:
    """Call start times over a whole day, peaking in business hours."""
    out = []
    for _ in range(n):
        if rng.random() < 0.85:
            s = int(rng.triangular(7 * 3600, 21 * 3600, 12 * 3600))
        else:
            s = rng.randrange(0, 86_400)
        out.append(min(s, LAST_SECOND))
    out.sort()
    return out


def busy_starts(rng: random.Random, n: int) -> tuple[list[int], tuple[str, ...]]:
    """A busy day: n starts within n/10 seconds from 10:00 (thousands of calls in progress at
    once) and the small pool of caller numbers they share (one per 40 calls, at least 20)."""
    window = max(60, n // 10)
    starts = sorted(min(10 * 3600 + rng.randrange(window), LAST_SECOND) for _ in range(n))
    phones = tuple(dict.fromkeys(external_phone(rng) for _ in range(max(20, n // 40))))
    return starts, phones


def iter_calls(
    rng: random.Random, spec: DaySpec, starts: Sequence[int], phones: Sequence[str] = (),
) -> Iterator[SimCall]:
    """Conversations of ``spec`` in start order, one per start second (a paired shape takes two
    starts); UniqueId sequence numbers above ``spec.start_id``.

    With ``complex_share`` 0 no extra random draw is made: the output is the historical one.
    ``busy`` draws the busy-day shapes too, and callers from ``phones`` when given.
    """
    pbx, dirty_p = pbx_of(spec.token), dirty_probability(spec.dirty_share)
    if not 0.0 <= spec.complex_share <= 1.0:
        raise ValueError("complex_share must be in [0, 1]")
    base = Draft(rng, pbx, spec.day, 0, spec.start_id, dirty_p, State(phones))
    if not spec.complex_share:
        seq = spec.start_id
        for s0 in starts:
            seq += rng.randint(1, 3)
            yield build_call(base._replace(s0=s0, seq=seq))
        return
    if spec.busy:  # every call first: whether rule 3 can place a forward depends on the others
        built = list(_iter_complex(base, starts, spec.complex_share, busy=True))
        yield from _mark_ambiguous_forwards(built)
        return
    yield from _iter_complex(base, starts, spec.complex_share, busy=False)


def _iter_complex(
    base: Draft, starts: Sequence[int], complex_share: float, *, busy: bool,
) -> Iterator[SimCall]:
    """The conversations of :func:`iter_calls` with complex shapes on, in start order."""
    rng, seq = base.rng, base.seq
    shapes, weights = ((_BUSY_COMPLEX_SHAPES, _BUSY_COMPLEX_WEIGHTS) if busy
                       else (_COMPLEX_SHAPES, _COMPLEX_WEIGHTS))
    simple_answered = _simple_answered_share(complex_share)
    pending: list[tuple[int, int, SimCall]] = []  # built, not yet yielded (may start later)
    order = itertools.count()
    i, n = 0, len(starts)
    while i < n:
        s0 = starts[i]
        i += 1
        while pending and pending[0][0] <= s0:
            yield heapq.heappop(pending)[2]
        seq += rng.randint(1, 3)
        made: list[SimCall]
        if rng.random() < complex_share:
            shape = rng.choices(shapes, weights)[0]
            if shape in _PAIRED:
                if i >= n:
                    shape = "attended_transfer"
                else:
                    i += 1  # the second conversation takes the next start's place
            made = build_complex(base._replace(s0=s0, seq=seq), shape)
            seq = max(int(uid.rsplit(".", 1)[1]) for call in made for uid in call.legs)
        else:
            made = [build_call(base._replace(s0=s0, seq=seq), simple_answered)]
        for call in made:
            heapq.heappush(pending, (call.start_second, next(order), call))
    while pending:
        yield heapq.heappop(pending)[2]


def _local_target(channel: str) -> str:
    """``Local/<target>@<context>-<n>;1`` -> ``<target>``."""
    return channel.removeprefix("Local/").split("@", 1)[0]


def _mark_ambiguous_forwards(calls: list[SimCall]) -> list[SimCall]:
    """SPEC §4.2 rule 3 over the whole day: a forwarding leg joins its call only when exactly one
    call whose own channels dial its target is open (its linked rows span the leg's first row);
    otherwise its legs are ``loose`` - stored without a call. Only a busy day reuses a mobile
    while a forward to it is open, so only a busy day needs this."""
    dialling: dict[str, list[tuple[int, int]]] = defaultdict(list)  # target -> spans of callers
    forwards: list[tuple[int, str, int]] = []  # (call index, target, first second)
    for index, call in enumerate(calls):
        link = dict(call.links)
        placed = {uid for uid, kind in link.items() if kind != "forwarding"}
        own = {uid for uid, kind in link.items() if kind in ("primary", "bridge")}
        seconds = [e.second for e in call.events if e.uniqueid in placed]
        # a dirty row's body may be raw text: the import rejects it, so it rings nobody here
        targets = {x for e in call.events if e.event == "dial" and e.uniqueid in own
                   and isinstance(e.body, dict) for x in norm_exts(e.body.get("Extensions"))}
        for target in targets:
            dialling[target].append((min(seconds), max(seconds)))
        moved = [e for e in call.events if link.get(e.uniqueid) == "forwarding"]
        if moved:
            channel = next(e.body["Channel"] for e in moved if isinstance(e.body, dict) and "Channel" in e.body)
            forwards.append((index, _local_target(channel), min(e.second for e in moved)))
    out = list(calls)
    for index, target, begun in forwards:
        if sum(first <= begun <= last for first, last in dialling[target]) == 1:
            continue
        call = out[index]
        loose = tuple(uid for uid, kind in call.links if kind == "forwarding")
        out[index] = replace(call, loose=loose,
                             links=tuple(item for item in call.links if item[0] not in loose))
    return out


def _simple_answered_share(complex_share: float) -> float:
    """Answered share of the simple calls that keeps the day's at ``ANSWERED_SHARE``.

    Why: nearly every complex shape is answered (~96%), and the seed's headline figure is about
    conversations; with the default share about 22% of them are complex.
    """
    conv = complex_share * 1.1 / (1.0 + 0.1 * complex_share)
    if conv >= 1.0:
        return ANSWERED_SHARE
    return max(0.05, (ANSWERED_SHARE - conv * 0.96) / (1.0 - conv))


class DayArgs(TypedDict, total=False):
    """The keyword form of :class:`DaySpec`: what the public entry points take as ``**day``."""

    token: Required[str]
    day: Required[date]
    calls: Required[int]
    seed: Required[int]
    dirty_share: float
    start_id: int
    complex_share: float
    busy: bool


@dataclass(frozen=True)
class DaySpec:
    """What a simulated day of one enterprise is: its PBX token, the day, how many
    conversations, the seed, the share of malformed rows, where UniqueId sequence numbers start,
    the share of multi-UniqueId shapes and whether it is the busy day.

    Why one record: these travel together from every entry point (a day file, a plan, a live
    append, a fleet) down to :func:`iter_calls`.
    """

    token: str
    day: date
    calls: int
    seed: int
    dirty_share: float = 0.0
    start_id: int = 0
    complex_share: float = COMPLEX_SHARE
    busy: bool = False


def plan_calls(
    *, first_second: int | None = None, last_second: int | None = None, **day: Unpack[DayArgs],
) -> list[SimCall]:
    """Generate calls without writing them (for split writes with :func:`append_events`).

    ``day``: the :class:`DaySpec` fields (``token``, ``day``, ``calls``, ``seed``, ...).
    Calls start after local second ``first_second`` (default: spread over the whole day), and
    with ``last_second`` too anywhere between the two (a writer following a clock); their
    UniqueId sequence numbers are above ``start_id``. ``complex_share`` as in
    :func:`write_day_file`; each returned conversation carries its ground truth. ``busy``: the
    busy day (its starts from 10:00; ``first_second`` is then ignored).
    """
    return plan_day(DaySpec(**day), first_second, last_second)


def plan_day(
    spec: DaySpec, first_second: int | None = None, last_second: int | None = None,
) -> list[SimCall]:
    """:func:`plan_calls` of a :class:`DaySpec`."""
    rng = random.Random(
        f"plan|{spec.seed}|{spec.token}|{spec.day.isoformat()}|{spec.start_id}|{first_second}")
    if spec.busy:
        starts, phones = busy_starts(rng, spec.calls)
        return list(iter_calls(rng, spec, starts, phones))
    return list(iter_calls(rng, spec, _planned_starts(rng, spec.calls, first_second, last_second)))


def _planned_starts(
    rng: random.Random, calls: int, first_second: int | None, last_second: int | None,
) -> list[int]:
    """Start seconds of :func:`plan_calls` (see there)."""
    if first_second is None:
        return start_seconds(rng, calls)
    if last_second is not None:
        high = max(first_second, min(last_second, LAST_SECOND))
        return sorted(rng.randint(first_second, high) for _ in range(calls))
    remaining = max(1, LAST_SECOND - first_second)
    gap = max(1.0, min(90.0, remaining / (calls + 1)))
    starts, s = [], float(first_second)
    for _ in range(calls):
        s += rng.expovariate(1.0 / gap)
        starts.append(min(LAST_SECOND, int(s) + 1))
    return starts
