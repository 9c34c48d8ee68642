"""A simulated fleet: day files of several enterprises over several days, in the layout the
local transport reads (``<root>/<enterprise>/Listen_AMI_<day>.db``), each enterprise with its
own PBX token and UniqueId range."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Required, TypedDict, Unpack

from .calls import COMPLEX_SHARE, write_truth
from .dayfile import DayFileSummary, write_day_file


def day_file_path(root: Path, enterprise: str, day: date) -> Path:
    """Where the fleet layout keeps a day: ``root/<enterprise>/Listen_AMI_<day>.db``."""
    return Path(root) / enterprise / f"Listen_AMI_{day.isoformat()}.db"


def token_for(enterprise: str) -> str:
    """The PBX ``Token`` of an enterprise number: stable digit string (``'0327'`` -> ``'100327'``).

    Non-numeric names get a 10-digit hash-derived token, which cannot clash with numeric ones.
    """
    if enterprise.isascii() and enterprise.isdigit():
        return str(100_000 + int(enterprise))
    digest = hashlib.sha256(enterprise.encode("utf-8")).digest()
    return str(1_000_000_000 + int.from_bytes(digest[:8], "big") % 9_000_000_000)


class FleetArgs(TypedDict, total=False):
    """The keyword form of :class:`FleetSpec`."""

    enterprises: Required[Sequence[str]]
    days: Required[int]
    calls_per_day: Required[int]
    end_date: Required[date]
    seed: int
    dirty_share: float
    complex_share: float
    busy: bool
    truth: bool


@dataclass(frozen=True)
class FleetSpec:
    """A simulated fleet: ``days`` day files per enterprise up to ``end_date`` inclusive, of
    ``calls_per_day`` conversations each (every one a busy day with ``busy``), drawn as
    :class:`.plan.DaySpec` says; ``truth``: each day file gets its ground truth beside it."""

    enterprises: Sequence[str]
    days: int
    calls_per_day: int
    end_date: date
    seed: int = 1
    dirty_share: float = 0.01
    complex_share: float = COMPLEX_SHARE
    busy: bool = False
    truth: bool = False


def simulate_fleet(outdir: Path, **fleet: Unpack[FleetArgs]) -> list[DayFileSummary]:
    """The day files of a :class:`FleetSpec` (``fleet``: its fields), in ``outdir/<number>/``.

    Each enterprise gets its own UniqueId sequence range, so no two calls of the fleet share a
    UniqueId. Returned in (enterprise, day) order.
    """
    spec = FleetSpec(**fleet)
    days = spec.days
    per_day = spec.calls_per_day * (3 if not spec.complex_share else 5) + 10  # UniqueIds a day
    stride = max(10**6, days * per_day)
    out: list[DayFileSummary] = []
    for index, enterprise in enumerate(spec.enterprises):
        token = token_for(enterprise)
        for k in range(days):
            day = spec.end_date - timedelta(days=days - 1 - k)
            summary = write_day_file(
                day_file_path(Path(outdir), enterprise, day), token=token, day=day,
                calls=spec.calls_per_day, seed=spec.seed, dirty_share=spec.dirty_share,
                start_id=index * stride + k * per_day, complex_share=spec.complex_share,
                busy=spec.busy,
            )
            if spec.truth:
                write_truth(summary.path, summary.conversations)
            out.append(replace(summary, enterprise=enterprise))
    return out
