"""Events become stored rows: the webhook delivery of each table - statuses, responses, times,
failed deliveries and their retries (the retry re-serializes the body)."""
from __future__ import annotations

import json
import random
from typing import Any

from .calls import SimEvent
from .rows import StoredRow, encode, row, stored

_UNDELIVERED = (
    ("<Response [500]>", "Internal Server Error", 0.25),
    ("<Response [502]>", "Bad Gateway", 0.30),
    ("<Response [404]>", '{"detail":"Not Found"}', 0.33),
    ("Timeout", "", 0.53),
    (
        (
            "ConnectionError(MaxRetryError(\"HTTPConnectionPool(host='10.88.10.19', port=8001): "
            "Max retries exceeded with url: /webhook (Caused by NewConnectionError('<urllib3."
            "connection.HTTPConnection object>: Failed to establish a new connection: [Errno 111] "
            "Connection refused'))\"))"
        ),
        "",
        0.73,
    ),
    ("''", "", 0.86),
    ("Error 503: Service Unavailable", "", 0.92),
    ("Error: [Errno 104] Connection reset by peer", "", 0.96),
    (None, "", 1.01),
)
#: Probability that a failed delivery is followed by a retry row (status "''", body re-serialized).
_RETRY_SHARE = 0.5


def _reserialize(rng: random.Random, body: dict[str, Any]) -> str:
    """The same JSON with another key order or spacing (what a retry row looks like)."""
    x = rng.randrange(5)
    if x == 0:
        return json.dumps(body, ensure_ascii=False, sort_keys=True)
    if x == 1:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if x == 2:
        return json.dumps(dict(reversed(list(body.items()))), ensure_ascii=False)
    if x == 3:
        return json.dumps(body, ensure_ascii=True, sort_keys=True, separators=(", ", ": "))
    return json.dumps(body, ensure_ascii=False, indent=1)


class RowMaker:
    """Turns events into source rows of one table kind, drawing statuses from its own RNG."""

    def __init__(self, rng: random.Random, alternative: bool, undelivered: float):
        self.rng = rng
        self.alternative = alternative
        self.undelivered = undelivered

    def rows(self, ev: SimEvent, text: str | None, when: str) -> list[StoredRow]:
        """One row, or the failed row plus its retry."""
        r = self.rng.random
        x = r()
        failed = x < self.undelivered if self.alternative else x >= 0.98
        status: str | None
        if not failed:
            y = r()
            if self.alternative:
                status = "<Response [200]>" if y < 0.9 else "ok" if y < 0.97 else "<Response [204]>"
            else:
                status = "<Response [200]>" if y < 0.93 else ("ok" if y < 0.97 else "OK")
            response = "" if r() < 0.6 else '{"status":"ok"}'
            made = stored(row(when, ev.event, ev.uniqueid, text, status), response,
                          round(0.005 + r() * 0.4, 4))
            return [made]
        y = r()
        status, response, _ = next(item for item in _UNDELIVERED if y < item[2])
        if status == "Timeout":
            elapsed = round(5.0 + r() * 5.0, 3)
        elif status is None or status == "''":
            elapsed = 0.0
        else:
            elapsed = round(0.001 + r() * 0.05, 4)
        rows = [stored(row(when, ev.event, ev.uniqueid, text, status), response, elapsed)]
        if r() < _RETRY_SHARE:
            if ev.raw:
                retry = text
            else:
                body = ev.body
                if self.alternative and ev.alt_extra:
                    body = {**body, **ev.alt_extra}
                retry = _reserialize(self.rng, body)
            rows.append(stored(row(when, ev.event, ev.uniqueid, retry, "''")))
        return rows


def request_texts(ev: SimEvent) -> tuple[str | None, str | None]:
    """Request text for APIlogs and for the Alternative tables."""
    if ev.raw:
        return ev.body, ev.body
    api = encode(ev.body)
    if ev.alt_extra:
        return api, encode({**ev.body, **ev.alt_extra})
    return api, api
