"""A simulated fleet: day files of several enterprises over several days, in the layout the
local transport reads (``<root>/<enterprise>/Listen_AMI_<day>.db``), each enterprise with its
own PBX token and UniqueId range."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

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


def simulate_fleet(
    outdir: Path, *, enterprises: Sequence[str], days: int, calls_per_day: int, end_date: date,
    seed: int = 1, dirty_share: float = 0.01, complex_share: float = COMPLEX_SHARE,
    busy: bool = False, truth: bool = False,
) -> list[DayFileSummary]:
    """``days`` day files per enterprise up to ``end_date`` inclusive, in ``outdir/<number>/``.

    Each enterprise gets its own UniqueId sequence range, so no two calls of the fleet share a
    UniqueId. Returned in (enterprise, day) order. ``busy``: every day is a busy day of
    ``calls_per_day`` conversations; ``truth``: each day file gets its ground truth beside it.
    """
    per_day = calls_per_day * (3 if not complex_share else 5) + 10  # UniqueIds per day, at most
    stride = max(10**6, days * per_day)
    out: list[DayFileSummary] = []
    for index, enterprise in enumerate(enterprises):
        token = token_for(enterprise)
        for k in range(days):
            day = end_date - timedelta(days=days - 1 - k)
            summary = write_day_file(
                day_file_path(Path(outdir), enterprise, day), token=token, day=day,
                calls=calls_per_day, seed=seed, dirty_share=dirty_share,
                start_id=index * stride + k * per_day, complex_share=complex_share, busy=busy,
            )
            if truth:
                write_truth(summary.path, summary.conversations)
            out.append(replace(summary, enterprise=enterprise))
    return out
