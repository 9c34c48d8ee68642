"""The day range of a history request, and why a range no partition covers is refused.

Plain functions (no HTTP): the router turns ``InvalidRange`` into a 422 whose ``errors`` name
each problem's field, like any other validation error of the body.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class RangeProblem:
    field: str  # "date_from" or "date_to"
    message: str


class InvalidRange(ValueError):
    """The requested days cannot be imported; ``problems`` says which field is wrong and why."""

    def __init__(self, problems: list[RangeProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def history_range(date_from: date | None, date_to: date | None, *, today: date, start: date,
                  default_days: int) -> tuple[date, date]:
    """The inclusive days to import. Without ``date_to``: up to ``today`` (the PBX's date);
    without ``date_from``: the last ``default_days`` days up to the end, but never before
    ``start`` (ASTERISK_HISTORY_START, the first history partition). A day in the future, or
    one before ``start`` that the request names, has no partition: InvalidRange."""
    last = date_to or today
    problems = []
    if last > today:
        problems.append(RangeProblem("date_to", f"date_to {last} is in the future (today is {today} on the PBX)"))
    if date_to and last < start:
        problems.append(RangeProblem("date_to", f"date_to {last} is before ASTERISK_HISTORY_START {start}"))
    if date_from and date_from < start:
        problems.append(RangeProblem("date_from", f"date_from {date_from} is before ASTERISK_HISTORY_START {start}"))
    if problems:
        raise InvalidRange(problems)
    first = date_from or max(start, last - timedelta(days=default_days - 1))
    if first > last:
        raise InvalidRange([RangeProblem("date_from", f"date_from {first} is after date_to {last}")])
    return first, last


#: The years a read may name: a day in year 1 or 9999 has no UTC span in every zone.
READ_YEARS = (1900, 9000)


def read_range(date_from: date | None, date_to: date | None) -> tuple[date | None, date | None]:
    """The PBX-local days a read covers (``GET /calls``, ``/stats``), both ends inclusive and
    optional; reversed is InvalidRange. Unlike an import, any day may be asked about."""
    problems = [RangeProblem(field, f"{field} {day} is outside the years {READ_YEARS[0]}..{READ_YEARS[1]}")
                for field, day in (("date_from", date_from), ("date_to", date_to))
                if day is not None and not READ_YEARS[0] <= day.year <= READ_YEARS[1]]
    if problems:
        raise InvalidRange(problems)
    if date_from and date_to and date_from > date_to:
        raise InvalidRange([RangeProblem("date_from", f"date_from {date_from} is after date_to {date_to}")])
    return date_from, date_to
