"""Fleet-health alerts (SPEC §4.8): a JSON POST to the configured webhook, once per change of
status and again on recovery.

Sent by the live run itself, right after its cycle (``defs/live.py``): that is the moment a
status changes, with the run's fresh outcomes in hand, so an alert is one cycle old at most and
needs no second process. Each change is claimed in ``fleet_alerts`` before it is sent (two runs
or a run and an operator's CLI never send one change twice). A webhook that fails or times out
is recorded there and retried the next cycle; it never fails the sync.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from ..fleet_health import Health, worth_alerting
from ..settings import Settings
from ..warehouse.db import write_transaction
from ..warehouse.fleet_alerts import (
    AlertState,
    Change,
    alert_states,
    claim_change,
    claim_retry,
    settle,
)

log = logging.getLogger("asterisk_pipeline.sync.alerts")


def masked_webhook(url: str) -> str:
    """``scheme://host/…``: webhook URLs carry their token in the path or query (never logged)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def status_since(health: Health, now: datetime) -> datetime:
    """When the new status began: the first failure of a failing streak, else when it was seen."""
    return health.evidence.failing_since if health.status == "failing" and health.evidence.failing_since else now


def alert_payload(health: Health, old_status: str | None, now: datetime,
                  since: datetime | None = None) -> dict[str, Any]:
    """The JSON an alert carries (the README shows it); ``since`` as claimed (a retry keeps it)."""
    e = health.evidence
    return {
        "enterprise": e.enterprise,
        "old_status": old_status,
        "new_status": health.status,
        "since": _iso(since or status_since(health, now)),
        "reason": health.reason,
        "last_error": f"{e.last_error_kind}: {e.last_error}" if e.last_error_kind or e.last_error else None,
        "consecutive_failures": e.consecutive_failures,
        "last_successful_sync": _iso(e.last_success),
        "newest_event_at": _iso(e.newest_event_at),
        "sent_at": _iso(now),
    }


@dataclass
class AlertReport:
    """What one round of alerts did: sent, failed (retried next cycle), settled without a send."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sender:
    engine: Engine
    url: str
    timeout_s: float
    now: datetime
    claim: str

    def post(self, payload: dict[str, Any]) -> str | None:
        """None when the webhook took it (2xx), else what went wrong (no URL in it)."""
        try:
            answer = httpx.post(self.url, json=payload, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        return None if answer.is_success else f"HTTP {answer.status_code}"

    def deliver(self, health: Health, change: Change, report: AlertReport) -> None:
        number, old = health.evidence.enterprise, change.old
        error = self.post(alert_payload(health, old, self.now, change.since))
        with write_transaction(self.engine) as conn:
            settle(conn, number, self.claim, datetime.now(UTC), error)
        if error is None:
            report.sent.append(number)
            log.info("alert sent for %s: %s -> %s", number, old, health.status)
        else:
            report.failed.append(number)
            log.warning("alert for %s to %s failed (%s); retried next cycle",
                        number, masked_webhook(self.url), error)


def send_alerts(engine: Engine, healths: Iterable[Health], settings: Settings,
                now: datetime | None = None) -> AlertReport:
    """Claim every change of status since the last alert and send the ones worth an alert.

    Without ``ASTERISK_ALERT_WEBHOOK_URL`` nothing is claimed: the changes stay to be alerted
    once a URL is set."""
    report = AlertReport()
    if settings.alert_webhook_url is None:
        return report
    sender = _Sender(engine, settings.alert_webhook_url.get_secret_value(), settings.alert_webhook_timeout_s,
                     (now or datetime.now(UTC)).astimezone(UTC), uuid.uuid4().hex)
    with engine.connect() as conn:
        states = alert_states(conn)
    for health in healths:
        if health.status == "skipped":
            continue
        _one(sender, health, states.get(health.evidence.enterprise), report)
    return report


def _one(sender: _Sender, health: Health, state: AlertState | None, report: AlertReport) -> None:
    number, new = health.evidence.enterprise, health.status
    old = state.status if state is not None else None
    if old == new:
        if state is not None and state.delivered_at is None:  # an earlier send failed
            with write_transaction(sender.engine) as conn:
                won = claim_retry(conn, number, new, sender.claim, sender.now)
            if won:
                sender.deliver(health, Change(number, state.old_status, new, state.since), report)
        return
    change = Change(number, old, new, status_since(health, sender.now))
    with write_transaction(sender.engine) as conn:
        won = claim_change(conn, change, sender.claim, sender.now)
        if won and not worth_alerting(old, new):  # taken up silently (e.g. a first success)
            settle(conn, number, sender.claim, sender.now, None)
    if not won:
        return
    if worth_alerting(old, new):
        sender.deliver(health, change, report)
    else:
        report.recorded.append(number)
