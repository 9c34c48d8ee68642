"""Warehouse quality queries behind the asset checks (read-only, SQLite and PostgreSQL alike).

Kept as plain functions of a connection so that they are testable without Dagster; candidates
to move into ``asterisk_pipeline.warehouse`` when that package's owners want them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, exists, func, select

from ..model import Flow
from ..normalize import normalize_extensions
from ..warehouse.registry import SkippedEnterprise, active_enterprises
from ..warehouse.registry import skipped_enterprises as _skipped
from ..warehouse.schema import (
    call_events,
    call_legs,
    call_participants,
    calls,
    rejected_events,
    sync_runs,
)


def duplicate_call_ids(conn: Connection, limit: int = 10) -> tuple[int, list[str]]:
    """UniqueIds held by more than one call row of one enterprise (the unique constraint should
    make it 0; UniqueIds are unique per PBX only, so two enterprises may share one)."""
    dup = (
        select(calls.c.unique_id)
        .group_by(calls.c.enterprise_id, calls.c.unique_id)
        .having(func.count() > 1)
        .subquery()
    )
    total = conn.execute(select(func.count()).select_from(dup)).scalar_one()
    sample = list(
        conn.execute(select(dup.c.unique_id).order_by(dup.c.unique_id).limit(limit)).scalars()
    )
    return int(total), sample


@dataclass(frozen=True)
class AnsweredWithoutParticipant:
    """Answered calls none of whose participants answered, split by the SPEC §4.4 reason."""

    hangup_lists_no_extension: int  # allowed by SPEC §4.4: counted, not an error
    violations: int  # the chosen hangup names an extension, yet nobody answered
    sample: list[str]


def answered_without_participant(conn: Connection, limit: int = 10) -> AnsweredWithoutParticipant:
    """Reads only the (rare) offending calls; the hangup body decides which kind each one is."""
    answered_p = exists().where(
        and_(
            call_participants.c.call_id == calls.c.id,
            call_participants.c.participant_status == "answered",
        )
    )
    rows = conn.execute(
        select(calls.c.unique_id, calls.c.raw_data)
        .where(and_(calls.c.is_answered, ~answered_p))
        .order_by(calls.c.id)
    ).all()
    violations = []
    for unique_id, raw in rows:
        body = json.loads(raw) if isinstance(raw, str) else (raw or {})
        if normalize_extensions(body.get("Extensions") if isinstance(body, dict) else None):
            violations.append(unique_id)
    return AnsweredWithoutParticipant(
        len(rows) - len(violations), len(violations), violations[:limit]
    )


@dataclass(frozen=True)
class UnlinkedForwarding:
    """Forwarding legs the rows cannot tie to exactly one call (SPEC §4.2 rule 3)."""

    legs: int
    calls: int
    sample: list[str]

    @property
    def share(self) -> float:
        return self.legs / self.calls if self.calls else 0.0


def unlinked_forwarding_legs(conn: Connection, limit: int = 10) -> UnlinkedForwarding:
    loose = call_legs.c.call_id.is_(None)
    total = conn.execute(select(func.count()).select_from(call_legs).where(loose)).scalar_one()
    sample = list(conn.execute(
        select(call_legs.c.unique_id).where(loose).order_by(call_legs.c.id).limit(limit)
    ).scalars())
    all_calls = conn.execute(select(func.count()).select_from(calls)).scalar_one()
    return UnlinkedForwarding(int(total), int(all_calls), sample)


def orphan_participants(conn: Connection) -> int:
    """Participant rows whose call does not exist (only possible with foreign keys off)."""
    missing = ~exists().where(calls.c.id == call_participants.c.call_id)
    return int(
        conn.execute(
            select(func.count()).select_from(call_participants).where(missing)
        ).scalar_one()
    )


def orphan_events(conn: Connection) -> int:
    """Events linked to a call id that does not exist (unlinked events, call_id NULL, are fine)."""
    missing = and_(
        call_events.c.call_id.is_not(None), ~exists().where(calls.c.id == call_events.c.call_id)
    )
    return int(
        conn.execute(select(func.count()).select_from(call_events).where(missing)).scalar_one()
    )


@dataclass(frozen=True)
class CallsWithoutTimes:
    without_start: int
    without_end: int
    calls: int


def calls_without_times(conn: Connection) -> CallsWithoutTimes:
    """Calls whose start or end time is unknown: missing, malformed or implausible in the PBX's
    rows (SPEC §4.2: a 1900 or 9999 stamp counts as unparsable, its raw text kept in raw_data)."""
    row = conn.execute(
        select(
            func.count().filter(calls.c.start_time.is_(None)),
            func.count().filter(calls.c.end_time.is_(None)),
            func.count(),
        ).select_from(calls)
    ).one()
    return CallsWithoutTimes(int(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class RejectedShare:
    rejected: int
    events: int

    @property
    def share(self) -> float:
        total = self.rejected + self.events
        return self.rejected / total if total else 0.0


def rejected_share(conn: Connection) -> RejectedShare:
    """Rejected source rows against stored events, over the whole warehouse."""
    rejected = conn.execute(select(func.count()).select_from(rejected_events)).scalar_one()
    events = conn.execute(select(func.count()).select_from(call_events)).scalar_one()
    return RejectedShare(int(rejected), int(events))


def stale_live_enterprises(
    conn: Connection,
    max_age: timedelta,
    now: datetime | None = None,
) -> dict[str, datetime | None]:
    """Active enterprises whose last successful live sync is older than ``max_age`` (None: never)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    numbers = [e.number for e in active_enterprises(conn)]
    last = dict(
        conn.execute(
            select(sync_runs.c.enterprise_id, func.max(sync_runs.c.finished_at))
            .where(and_(sync_runs.c.flow == Flow.LIVE.value, sync_runs.c.status == "success"))
            .group_by(sync_runs.c.enterprise_id)
        ).all()
    )
    result: dict[str, datetime | None] = {}
    for number in numbers:
        when = last.get(number)
        if when is None or now - when > max_age:
            result[number] = when
    return result


def skipped_enterprises(conn: Connection) -> list[SkippedEnterprise]:
    """Active ``enterprises`` rows no sync uses because their number is unsafe (SPEC §3)."""
    return _skipped(conn)
