"""SPEC §4.7 follow-up rules (``followup.follow_up``) on conversations built in the test."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asterisk_pipeline.followup import FollowupCall, effective_status, follow_up
from asterisk_pipeline.numbers import number_key

T0 = datetime(2025, 7, 3, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
NOW = T0 + timedelta(days=1)  # inside the window of a missed call at T0


def call(cid: int, minutes: float, kind: str, *, answered: bool, by: str | None = None,
         number: str = "+375291112233") -> FollowupCall:
    """kind: 'in' (0), 'out' (1), 'int' (2)."""
    call_type = {"in": "0", "out": "1", "int": "2"}[kind]
    return FollowupCall(cid, T0 + timedelta(minutes=minutes), call_type, answered,
                        by if answered else None, by, number, number_key(number))


def test_callback_by_another_extension_resolves_with_the_caller_and_the_delay():
    rows = follow_up([
        call(1, 0, "in", answered=False, by="201"),
        call(2, 30, "out", answered=True, by="305"),
    ], WEEK, NOW)
    assert len(rows) == 1
    (r,) = rows
    assert (r.call_id, r.status, r.resolved_call_id, r.resolved_by) == (1, "called_back", 2, "305")
    assert r.resolved_at == T0 + timedelta(minutes=30)
    assert r.seconds_to_resolution == 30 * 60
    assert r.callback_attempts == 0
    assert r.expires_at == T0 + WEEK


def test_caller_getting_through_resolves_with_who_answered():
    (r,) = follow_up([
        call(1, 0, "in", answered=False),
        call(2, 90, "in", answered=True, by="202"),
    ], WEEK, NOW)
    assert (r.status, r.resolved_call_id, r.resolved_by, r.seconds_to_resolution) == ("got_through", 2, "202", 5400)


@pytest.mark.parametrize(("callback_at", "through_at", "expected"), [
    (10, 20, "called_back"),
    (20, 10, "got_through"),
])
def test_both_happen_and_the_first_wins(callback_at, through_at, expected):
    (r,) = follow_up([
        call(1, 0, "in", answered=False),
        call(2, callback_at, "out", answered=True, by="201"),
        call(3, through_at, "in", answered=True, by="202"),
    ], WEEK, NOW)
    assert r.status == expected
    assert r.resolved_call_id == (2 if expected == "called_back" else 3)


def test_unanswered_attempts_before_the_resolution_are_counted_and_later_ones_not():
    (r,) = follow_up([
        call(1, 0, "in", answered=False),
        call(2, 5, "out", answered=False, by="201"),
        call(3, 50, "out", answered=False, by="202"),
        call(4, 60, "int", answered=True, by="201"),  # internal: neither attempt nor resolution
        call(5, 120, "out", answered=True, by="203"),
        call(6, 180, "out", answered=False, by="201"),
    ], WEEK, NOW)
    assert (r.status, r.resolved_by, r.callback_attempts) == ("called_back", "203", 2)


def test_unresolved_is_open_inside_the_window_with_its_attempts_and_expired_after():
    calls = [call(1, 0, "in", answered=False), call(2, 5, "out", answered=False, by="201")]
    (open_row,) = follow_up(calls, WEEK, NOW)
    assert (open_row.status, open_row.callback_attempts, open_row.resolved_call_id) == ("open", 1, None)
    (late,) = follow_up(calls, WEEK, T0 + WEEK)
    assert late.status == "expired"
    assert effective_status("open", open_row.expires_at, T0 + WEEK) == "expired"
    assert effective_status("open", open_row.expires_at, NOW) == "open"
    assert effective_status("called_back", open_row.expires_at, T0 + WEEK) == "called_back"


def test_a_follow_up_after_the_window_does_not_count():
    (r,) = follow_up([
        call(1, 0, "in", answered=False),
        call(2, WEEK / timedelta(minutes=1) + 1, "out", answered=True, by="201"),
    ], WEEK, T0 + 2 * WEEK)
    assert (r.status, r.resolved_call_id) == ("expired", None)


def test_a_call_before_the_missed_one_does_not_resolve_it():
    (r,) = follow_up([
        call(1, -10, "out", answered=True, by="201"),
        call(2, 0, "in", answered=False),
    ], WEEK, NOW)
    assert (r.call_id, r.status) == (2, "open")


def test_every_missed_call_is_a_row_and_one_callback_resolves_them_all():
    rows = follow_up([
        call(1, 0, "in", answered=False),
        call(2, 10, "in", answered=False),
        call(3, 20, "in", answered=False),
        call(4, 40, "out", answered=True, by="201"),
    ], WEEK, NOW)
    assert [(r.call_id, r.status, r.resolved_call_id) for r in rows] == [
        (1, "called_back", 4), (2, "called_back", 4), (3, "called_back", 4),
    ]
    assert [r.seconds_to_resolution for r in rows] == [2400, 1800, 1200]


def test_a_later_missed_call_does_not_resolve_an_earlier_one():
    rows = follow_up([call(1, 0, "in", answered=False), call(2, 10, "in", answered=False)], WEEK, NOW)
    assert [r.status for r in rows] == ["open", "open"]


@pytest.mark.parametrize("callback_number", ["+375291112233", "80291112233", "375291112233", "+375 (29) 111-22-33"])
def test_number_formats_match_through_the_key(callback_number):
    missed = call(1, 0, "in", answered=False, number="80291112233")
    back = call(2, 15, "out", answered=True, by="201", number=callback_number)
    assert missed.phone_key == back.phone_key
    (r,) = follow_up([missed, back], WEEK, NOW)
    assert (r.status, r.phone_number) == ("called_back", "80291112233")


def test_a_number_without_digits_is_never_resolved():
    anonymous = [call(1, 0, "in", answered=False, number="Anonymous"),
                 call(2, 5, "in", answered=True, by="201", number="Anonymous")]
    (r,) = follow_up(anonymous, WEEK, NOW, matchable=False)
    assert (r.status, r.phone_key) == ("open", None)


def test_the_input_order_does_not_matter():
    calls = [call(1, 0, "in", answered=False), call(2, 3, "out", answered=False, by="201"),
             call(3, 7, "in", answered=False), call(4, 9, "out", answered=True, by="202")]
    assert follow_up(calls, WEEK, NOW) == follow_up(list(reversed(calls)), WEEK, NOW)
