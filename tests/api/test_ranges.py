"""The day range of a history request (api/ranges.py), without HTTP."""
from __future__ import annotations

from datetime import date

import pytest

from asterisk_pipeline.api.ranges import InvalidRange, history_range

TODAY = date(2025, 7, 10)
START = date(2025, 6, 1)


def days(date_from: date | None = None, date_to: date | None = None) -> tuple[date, date]:
    return history_range(date_from, date_to, today=TODAY, start=START, default_days=7)


def problems(date_from: date | None = None, date_to: date | None = None) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRange) as caught:
        days(date_from, date_to)
    return [(p.field, p.message) for p in caught.value.problems]


def test_without_dates_the_last_default_days_up_to_today() -> None:
    assert days() == (date(2025, 7, 4), TODAY)


def test_without_date_from_the_default_days_end_at_date_to() -> None:
    assert days(date_to=date(2025, 6, 20)) == (date(2025, 6, 14), date(2025, 6, 20))


def test_the_default_span_never_starts_before_history_start() -> None:
    assert days(date_to=date(2025, 6, 3)) == (START, date(2025, 6, 3))


def test_a_given_range_is_kept_as_is_one_day_included() -> None:
    assert days(date(2025, 6, 22), date(2025, 7, 3)) == (date(2025, 6, 22), date(2025, 7, 3))
    assert days(TODAY, TODAY) == (TODAY, TODAY)
    assert days(START, START) == (START, START)


def test_a_day_in_the_future_has_no_partition() -> None:
    assert problems(date_to=date(2025, 7, 11)) == [
        ("date_to", "date_to 2025-07-11 is in the future (today is 2025-07-10 on the PBX)")]


def test_every_day_before_history_start_is_named_with_its_field() -> None:
    assert problems(date(2025, 5, 1), date(2025, 5, 31)) == [
        ("date_to", "date_to 2025-05-31 is before ASTERISK_HISTORY_START 2025-06-01"),
        ("date_from", "date_from 2025-05-01 is before ASTERISK_HISTORY_START 2025-06-01"),
    ]


def test_a_date_from_after_today_without_date_to_is_reversed() -> None:
    """The body's own check catches date_from > date_to when both are given; here date_to is
    today by default."""
    assert problems(date_from=date(2025, 7, 11)) == [("date_from", "date_from 2025-07-11 is after date_to 2025-07-10")]


def test_invalid_range_reads_as_one_sentence() -> None:
    with pytest.raises(InvalidRange, match="in the future.*; date_from 2025-05-01 is before"):
        days(date(2025, 5, 1), date(2025, 8, 1))
