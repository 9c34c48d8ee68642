"""SPEC §4.7: which incoming conversations were missed, and what became of each — pure rules.

The input is one enterprise's conversations with one outside number (one ``numbers.number_key``)
around the missed calls to decide; the output is their ``missed_calls`` rows. Decisions this
module makes where the SPEC is terse:

- Every missed conversation is a row of its own: a customer who calls three times unanswered
  leaves three rows, each followed up on its own.
- One callback can resolve several earlier missed calls: the rule asks, for each missed call,
  for the first resolving conversation after it — the same one can be first for all of them.
- "After" is strictly later in start time; the window is half-open: a follow-up counts when it
  starts before ``missed_at + window``, and the call is ``'open'`` while ``now`` is before
  ``expires_at = missed_at + window``, ``'expired'`` from then on.
- ``resolved_by`` is the extension that called (``answered_by``, the first holder of an outgoing
  conversation, else its ``main_extension``) for ``'called_back'``, and the extension that took
  the call (``answered_by``) for ``'got_through'``.
- ``callback_attempts`` counts unanswered outgoing conversations to the number after the missed
  call and before its resolution (within the window when there is none).
- A number without digits (``''``, ``Anonymous``) matches nothing: its missed calls can only be
  ``'open'`` or ``'expired'``. A conversation without a start time has no place in time, so it
  is neither a missed call here nor anyone's follow-up.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

#: SPEC §4.7 default follow-up window (``Settings.missed_window_days``).
DEFAULT_WINDOW = timedelta(days=7)
STATUSES = ("open", "called_back", "got_through", "expired")
INCOMING, OUTGOING = "0", "1"


class FollowupCall(NamedTuple):
    """What the rules read of one conversation (a ``calls`` row)."""

    call_id: int
    start: datetime
    call_type: str | None
    is_answered: bool
    answered_by: str | None
    main_extension: str | None
    phone_number: str | None = None
    phone_key: str | None = None

    @property
    def missed(self) -> bool:
        """Incoming and nobody held it."""
        return self.call_type == INCOMING and not self.is_answered


class MissedCall(NamedTuple):
    """One ``missed_calls`` row."""

    call_id: int
    phone_number: str | None
    phone_key: str | None
    missed_at: datetime
    expires_at: datetime
    status: str
    resolved_call_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None
    seconds_to_resolution: int | None
    callback_attempts: int


def _resolution(call: FollowupCall) -> tuple[str, str | None] | None:
    """('called_back', who called) / ('got_through', who answered) when this conversation
    resolves an earlier missed call of its number, else None."""
    if not call.is_answered:
        return None
    if call.call_type == OUTGOING:
        return "called_back", call.answered_by or call.main_extension
    if call.call_type == INCOMING:
        return "got_through", call.answered_by
    return None


def follow_up(
    calls: Iterable[FollowupCall], window: timedelta, now: datetime, *, matchable: bool = True,
) -> list[MissedCall]:
    """The ``missed_calls`` rows of the missed conversations among ``calls`` (one number).

    ``calls`` must hold every conversation of the number from the earliest missed call to be
    decided up to ``window`` after the latest; ``matchable=False`` for calls whose number has no
    digits (nothing resolves them). O(n log n): a backward sweep finds, for every position, the
    next resolving conversation; a running count gives the unanswered attempts between.
    """
    ordered = sorted(calls, key=lambda c: (c.start, c.call_id))
    starts = [c.start for c in ordered]
    # next_resolver[i]: the first resolving conversation at or after position i (len: none)
    next_resolver = [len(ordered)] * (len(ordered) + 1)
    for i in range(len(ordered) - 1, -1, -1):
        next_resolver[i] = i if matchable and _resolution(ordered[i]) else next_resolver[i + 1]
    attempts_before = [0]  # unanswered outgoing conversations before each position
    for c in ordered:
        attempts_before.append(attempts_before[-1] + (c.call_type == OUTGOING and not c.is_answered))
    return [
        _decide(ordered, starts, i, (next_resolver, attempts_before), (window, now))
        for i, c in enumerate(ordered) if c.missed
    ]


def _decide(
    ordered: Sequence[FollowupCall], starts: Sequence[datetime], i: int,
    sweep: tuple[list[int], list[int]], limits: tuple[timedelta, datetime],
) -> MissedCall:
    next_resolver, attempts_before = sweep
    window, now = limits
    missed = ordered[i]
    expires = missed.start + window
    after = bisect_right(starts, missed.start)  # strictly later starts
    until = bisect_left(starts, expires)
    r = next_resolver[after] if after < len(ordered) else len(ordered)
    if r < until:
        resolver = ordered[r]
        status, by = _resolution(resolver) or ("open", None)
        return MissedCall(
            missed.call_id, missed.phone_number, missed.phone_key, missed.start, expires, status,
            resolver.call_id, resolver.start, by, int((resolver.start - missed.start).total_seconds()),
            attempts_before[r] - attempts_before[after],
        )
    status = "open" if now < expires else "expired"
    return MissedCall(
        missed.call_id, missed.phone_number, missed.phone_key, missed.start, expires, status,
        None, None, None, None, attempts_before[max(until, after)] - attempts_before[after],
    )


def effective_status(status: str, expires_at: datetime, now: datetime) -> str:
    """A stored row's status as of ``now``: an ``'open'`` row whose window has passed is
    ``'expired'`` even before any import or asset run rewrote it."""
    return "expired" if status == "open" and now >= expires_at else status
