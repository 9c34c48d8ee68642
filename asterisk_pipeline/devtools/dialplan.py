"""An enterprise's PBX as the simulator sees it: extensions, trunks, DIDs, managers' mobiles and
the numbers and names of the people who call - stable per token, independent of seed and day."""
from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

NAMES = (
    "Иванов Иван", "Петрова Анна", "Бухгалтерия", "Отдел продаж", "Склад", "Директор",
    "Reception", "John Smith", "Менеджер Ольга", "", "Support", "Сервисный центр",
)


class Pbx(NamedTuple):
    token: str
    extensions: tuple[str, ...]
    trunks: tuple[str, ...]
    dids: tuple[str, ...]


@lru_cache(maxsize=256)
def pbx_of(token: str) -> Pbx:
    """The enterprise's dial plan: stable per token, independent of seed and day."""
    rng = random.Random(f"pbx|{token}")
    base = rng.choice((100, 200, 300, 500, 1000))
    count = rng.randint(6, 40)
    exts = tuple(str(base + i) for i in rng.sample(range(1, 99), count))
    trunks = tuple(
        rng.choice((f"{rng.randint(1, 9999999):07d}", f"trunk{i}", f"mts_{token[-3:]}", "a1_sip"))
        for i in range(rng.randint(1, 4))
    )
    dids = tuple(f"375{rng.choice(('17', '29', '33', '44'))}{rng.randint(1_000_000, 9_999_999)}"
                 for _ in range(len(trunks)))
    return Pbx(token, exts, tuple(dict.fromkeys(trunks)), dids)


def external_phone(rng: random.Random) -> str:
    code = rng.choice(("29", "33", "44", "25", "17"))
    num = rng.randint(1_000_000, 9_999_999)
    form = rng.random()
    if form < 0.6:
        return f"+375{code}{num}"
    if form < 0.85:
        return f"375{code}{num}"
    return f"80{code}{num}"


def caller_phone(rng: random.Random, state: State | None) -> str:
    """An outside number: drawn from the busy day's small shared pool, else a fresh one."""
    if state is not None and state.phones:
        return rng.choice(state.phones)
    return external_phone(rng)


def encode_exts(rng: random.Random, exts: Sequence[str]) -> Any:
    """One of the Extensions encodings seen in real data; normalizes back to ``exts``."""
    if not exts:
        return [] if rng.random() < 0.5 else [""]
    x = rng.random()
    if x < 0.07:
        return "&".join(exts)
    if x < 0.09:
        return [f" {exts[0]} ", *exts[1:]]
    if x < 0.11:
        return [*exts, ""]
    if x < 0.12:
        return [*exts, exts[0]]
    return list(exts)


def bridge_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class State:
    """What the generator remembers between conversations (calls are made in start order).

    Why: a FollowMe leg is linked by its target only when one open call dials that mobile
    (SPEC §4.2 rule 3), so a manager's mobile is not reused while an earlier forward is open.
    """

    def __init__(self, phones: Sequence[str] = ()) -> None:
        self.mobile_busy_until: dict[str, int] = {}
        self.phones = tuple(phones)  # busy day: the caller numbers every call draws from


@lru_cache(maxsize=256)
def mobiles_of(token: str) -> dict[str, str]:
    """Managers (extensions) with a mobile the PBX forwards to: stable per token."""
    exts = pbx_of(token).extensions
    rng = random.Random(f"mobiles|{token}")
    managers = exts[: rng.randint(1, min(3, len(exts)))]
    return {ext: f"375{rng.choice(('29', '33', '44'))}{rng.randint(1_000_000, 9_999_999)}"
            for ext in managers}


def caller_name_for(rng: random.Random, phone: str) -> str:
    return f"-{phone}" if rng.random() < 0.5 else rng.choice(NAMES)


class Draft(NamedTuple):
    """Where a conversation is drawn: what every shape builder takes.

    Why one record: the generator, the enterprise's PBX, the day, the start second, the first
    UniqueId sequence number, the dirt probability and the generator's memory always travel
    together from the day's plan to the builders and the rows they write.
    """

    rng: random.Random
    pbx: Pbx
    day: date
    s0: int  # local start second
    seq: int  # the first UniqueId gets this sequence number
    dirty_p: float
    state: State
