"""Fleet health (SPEC §4.8): the status of one enterprise from its evidence, pure.

Why a pure function: the rules (which threshold wins, what counts as working hours, when a
change of status is worth an alert) are what operators argue about; they are decided here from
plain data and tested without a database. The warehouse gathers the ``Evidence``
(``warehouse/fleet_health.py``); the shells show the ``Health`` it yields.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Status = Literal["ok", "stale", "failing", "skipped", "unknown"]
STATUSES: tuple[Status, ...] = ("ok", "stale", "failing", "skipped", "unknown")


@dataclass(frozen=True)
class WorkingHours:
    """The PBX-local hours [start, end) when the PBX is expected to see calls, every day.
    ``start == end`` means around the clock."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """``'HH:MM-HH:MM'`` (``24:00`` allowed as an end); ValueError otherwise."""
        try:
            first, last = (part.strip() for part in text.split("-"))
            start = time.fromisoformat(first)
            end = time(0) if last == "24:00" else time.fromisoformat(last)
        except ValueError:
            raise ValueError(f"working hours must be HH:MM-HH:MM, got {text!r}") from None
        if end != time(0) and end <= start:
            raise ValueError(f"working hours must end after they start, got {text!r}")
        return cls(start, end)

    def _day_span(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        begin = datetime.combine(day, self.start, zone)
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        return begin.astimezone(UTC), datetime.combine(end_day, self.end, zone).astimezone(UTC)

    def minutes_between(self, since: datetime, until: datetime, zone: ZoneInfo, cap: float) -> float:
        """Working minutes in [since, until) on the PBX's clock, counted up to ``cap`` (a silent
        week is not walked day by day past the threshold it already exceeds)."""
        total = 0.0
        day = since.astimezone(zone).date() - timedelta(days=1)
        last = until.astimezone(zone).date()
        while day <= last and total <= cap:
            begin, end = self._day_span(day, zone)
            overlap = (min(end, until) - max(begin, since)).total_seconds() / 60
            total += max(overlap, 0.0)
            day += timedelta(days=1)
        return total


@dataclass(frozen=True)
class HealthRules:
    """The thresholds (Settings ``health_*``)."""

    stale_event_minutes: float
    stale_sync_minutes: float
    failing_after: int
    working_hours: WorkingHours


@dataclass(frozen=True)
class Evidence:
    """What the warehouse records about one enterprise's live flow (times are aware UTC)."""

    enterprise: str
    timezone: str = "UTC"
    newest_event_at: datetime | None = None  # the newest stored event's PBX time, in UTC
    last_success: datetime | None = None
    last_failure: datetime | None = None
    consecutive_failures: int = 0  # failed live syncs since the last successful one
    failing_since: datetime | None = None  # the first of those
    last_error_kind: str | None = None
    last_error: str | None = None
    clock_offset_s: float | None = None  # PBX clock minus the central clock, when measured
    rows_today: int = 0
    rejected_today: int = 0
    skipped_reason: str | None = None  # an unusable enterprises row (SPEC §3)

    @property
    def rejected_share_today(self) -> float | None:
        return self.rejected_today / self.rows_today if self.rows_today else None


@dataclass(frozen=True)
class Health:
    """The decision: a status, why, and the evidence it was made from."""

    evidence: Evidence
    status: Status
    reason: str


def decide(evidence: Evidence, rules: HealthRules, now: datetime) -> Health:
    """The §4.8 status. Order: skipped, failing, unknown (never synced), stale (no successful
    sync, then no new event during working hours), ok."""
    if evidence.skipped_reason is not None:
        return Health(evidence, "skipped", evidence.skipped_reason)
    if evidence.consecutive_failures >= rules.failing_after:
        return Health(evidence, "failing", f"the last {evidence.consecutive_failures} live syncs failed")
    if evidence.last_success is None:
        return Health(evidence, "unknown", "no successful live sync yet")
    sync_age = (now - evidence.last_success).total_seconds() / 60
    if sync_age > rules.stale_sync_minutes:
        return Health(evidence, "stale", f"no successful live sync for {sync_age:.0f} min")
    return _event_freshness(evidence, rules, now)


def _event_freshness(evidence: Evidence, rules: HealthRules, now: datetime) -> Health:
    threshold = rules.stale_event_minutes
    zone = ZoneInfo(evidence.timezone)
    if evidence.newest_event_at is None:
        if rules.working_hours.minutes_between(now - timedelta(minutes=threshold), now, zone, threshold) > 0:
            return Health(evidence, "stale", "no event stored yet during working hours")
        return Health(evidence, "ok", "no event stored yet (outside working hours)")
    silent = rules.working_hours.minutes_between(evidence.newest_event_at, now, zone, threshold)
    if silent > threshold:
        return Health(evidence, "stale", f"no new event for {silent:.0f} working minutes")
    return Health(evidence, "ok", "syncing, events arriving")


def local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The start (UTC) of the PBX-local day ``now`` falls in ("today's rejected share")."""
    return datetime.combine(now.astimezone(zone).date(), time(0), zone).astimezone(UTC)


def worth_alerting(old: str | None, new: str) -> bool:
    """A change of status is news, except first sight of a quiet one and a first success
    (nothing was wrong before: no recovery to announce). Skipped rows have no enterprise to
    name in an alert; the quality check lists them."""
    if old == new or new == "skipped" or old == "skipped":
        return False
    return not (old in (None, "unknown") and new in ("ok", "unknown"))
