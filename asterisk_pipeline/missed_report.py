"""SPEC §4.7 statistics and exports of missed calls, pure: what the CLI, the API and the Dagster
asset print of ``missed_calls`` rows, computed the same way for all three.

- per enterprise and PBX-local day: missed calls, the share resolved (called back or got
  through), the median seconds to a callback (over 'called_back' rows only: the operators'
  question is how fast *we* called back);
- per extension: the callbacks it made (``resolved_by`` of 'called_back' rows).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from typing import Any, Protocol
from zoneinfo import ZoneInfo

RESOLVED = ("called_back", "got_through")
CSV_COLUMNS = (
    "enterprise_id", "call_id", "unique_id", "phone_number", "missed_at", "status",
    "resolved_call_id", "resolved_at", "resolved_by", "seconds_to_resolution",
    "callback_attempts", "expires_at",
)


class MissedLike(Protocol):
    """What the statistics read of a row (``warehouse.missed.MissedRow`` is one)."""

    @property
    def enterprise_id(self) -> str: ...
    @property
    def missed_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def resolved_by(self) -> str | None: ...
    @property
    def seconds_to_resolution(self) -> int | None: ...


@dataclass(frozen=True)
class MissedDay:
    enterprise_id: str
    day: str  # PBX-local YYYY-MM-DD
    missed: int
    called_back: int
    got_through: int
    open: int
    expired: int
    resolved_share: float
    median_seconds_to_callback: float | None


@dataclass(frozen=True)
class ExtensionCallbacks:
    enterprise_id: str
    extension: str
    callbacks: int
    median_seconds_to_callback: float | None


def by_day(rows: Iterable[MissedLike], zone_of: Callable[[str], ZoneInfo]) -> list[MissedDay]:
    """Per enterprise and PBX-local day of the missed call (``zone_of``: the PBX's zone)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    seconds: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        key = (r.enterprise_id, r.missed_at.astimezone(zone_of(r.enterprise_id)).date().isoformat())
        tally = counts.setdefault(key, dict.fromkeys(("open", "called_back", "got_through", "expired"), 0))
        tally[r.status] = tally.get(r.status, 0) + 1
        if r.status == "called_back" and r.seconds_to_resolution is not None:
            seconds.setdefault(key, []).append(r.seconds_to_resolution)
    out = []
    for (ent, day), t in sorted(counts.items()):
        total = sum(t.values())
        waits = seconds.get((ent, day))
        out.append(MissedDay(
            ent, day, total, t["called_back"], t["got_through"], t["open"], t["expired"],
            round((t["called_back"] + t["got_through"]) / total, 4) if total else 0.0,
            float(median(waits)) if waits else None,
        ))
    return out


def by_extension(rows: Iterable[MissedLike]) -> list[ExtensionCallbacks]:
    """Per enterprise and extension: the callbacks it made and their median delay."""
    waits: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        if r.status == "called_back" and r.resolved_by:
            waits.setdefault((r.enterprise_id, r.resolved_by), []).append(r.seconds_to_resolution or 0)
    return [ExtensionCallbacks(ent, ext, len(w), float(median(w))) for (ent, ext), w in sorted(waits.items())]


def local_days(first: date | None, last: date | None, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """PBX-local days ``[first, last]`` (either open) as UTC bounds ``[low, high)``."""
    low = datetime.combine(first, time(0), zone).astimezone(UTC) if first else None
    high = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC) if last else None
    return low, high


def csv_cells(row: Any) -> list[str]:
    """One row's CSV cells in ``CSV_COLUMNS`` order (times ISO 8601 UTC, missing values empty)."""
    cells = []
    for name in CSV_COLUMNS:
        value = getattr(row, name)
        cells.append("" if value is None else value.isoformat() if isinstance(value, datetime) else str(value))
    return cells


def record(row: Any) -> dict[str, Any]:
    """One row as JSON-ready data in ``CSV_COLUMNS`` order (times ISO 8601 UTC)."""
    out = {}
    for name in CSV_COLUMNS:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out
