"""``fleet_alerts``: the last status alerted per enterprise, and the claim that makes one sender
send each change (SPEC §4.8: once per change of status).

A sender first *claims* a change in the database — an INSERT on the enterprise's key, or an
UPDATE conditional on the status it saw — and sends only when its statement changed a row; a
second sender that saw the same change finds the row already moved and sends nothing. A send
that failed leaves ``delivered_at`` NULL and its claim released: the next cycle claims it again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select

from .schema import fleet_alerts
from .upsert import dialect_insert

#: A claim older than this is taken to be a sender that died before recording the result.
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class AlertState:
    """An enterprise's row: the status last taken up, and whether its alert went out."""

    enterprise: str
    status: str
    old_status: str | None
    since: datetime | None
    delivered_at: datetime | None
    attempts: int
    last_attempt_error: str | None


@dataclass(frozen=True)
class Change:
    """A change of status to claim: ``old`` as the claimer read it (None: no row yet)."""

    enterprise: str
    old: str | None
    new: str
    since: datetime | None


def alert_states(conn: Connection) -> dict[str, AlertState]:
    rows = conn.execute(select(fleet_alerts)).all()
    return {r.enterprise_id: AlertState(r.enterprise_id, r.status, r.old_status, r.since, r.delivered_at,
                                        int(r.attempts), r.last_attempt_error) for r in rows}


def claim_change(conn: Connection, change: Change, claim: str, now: datetime) -> bool:
    """Take up a change of status; True when this claimer won it (and must send or settle it)."""
    values = {"status": change.new, "old_status": change.old, "since": change.since, "changed_at": now,
              "claim": claim, "claimed_at": now, "delivered_at": None, "attempts": 0,
              "last_attempt_error": None}
    if change.old is None:
        insert = dialect_insert(conn)
        statement = insert(fleet_alerts).values(enterprise_id=change.enterprise, **values)
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING
        won = statement.on_conflict_do_nothing(index_elements=["enterprise_id"]).returning(fleet_alerts.c.enterprise_id)
        return conn.execute(won).first() is not None
    return conn.execute(
        fleet_alerts.update()
        .where(fleet_alerts.c.enterprise_id == change.enterprise, fleet_alerts.c.status == change.old)
        .values(**values)
    ).rowcount == 1


def claim_retry(conn: Connection, enterprise: str, status: str, claim: str, now: datetime) -> bool:
    """Take up an alert of ``status`` that has not gone out (nobody holds it, or its claimer's
    lease ran out); True when this claimer won it."""
    return conn.execute(
        fleet_alerts.update()
        .where(
            fleet_alerts.c.enterprise_id == enterprise, fleet_alerts.c.status == status,
            fleet_alerts.c.delivered_at.is_(None),
            or_(fleet_alerts.c.claimed_at.is_(None), fleet_alerts.c.claimed_at < now - CLAIM_LEASE),
        )
        .values(claim=claim, claimed_at=now)
    ).rowcount == 1


def settle(conn: Connection, enterprise: str, claim: str, now: datetime, error: str | None) -> None:
    """Record the send of a claimed alert: delivered (``error`` None) or failed and released."""
    mine = and_(fleet_alerts.c.enterprise_id == enterprise, fleet_alerts.c.claim == claim)
    if error is None:
        conn.execute(fleet_alerts.update().where(mine).values(delivered_at=now, last_attempt_error=None))
    else:
        conn.execute(fleet_alerts.update().where(mine).values(
            claimed_at=None, attempts=fleet_alerts.c.attempts + 1, last_attempt_error=error[:500]))
