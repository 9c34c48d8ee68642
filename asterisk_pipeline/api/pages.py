"""The opaque ``next`` cursor of ``GET /calls`` and ``GET /missed``: where the last page ended,
and for which search.

Why it carries a fingerprint of the filter: a cursor is a position in one search's order; used
with another filter it would silently skip or repeat rows, so it is refused (422) instead.
A cursor is client input: anything that does not decode to exactly what ``encode`` writes is
``BadCursor`` (a 422), never a 500.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from ..warehouse.search import Position

#: Longer than any cursor ``encode`` writes; a longer one is refused unread.
MAX_CURSOR_CHARS = 200


class BadCursor(ValueError):
    """The ``next`` value is not a cursor of this search."""


#: Filter fields that are no input: the zones are settings, ``now`` the moment of each request.
NOT_INPUT = ("zones", "now")


def fingerprint(wanted: Any) -> str:
    """12 hex digits that change with any input field of the filter dataclass ``wanted``."""
    values = {f.name: getattr(wanted, f.name) for f in fields(wanted) if f.name not in NOT_INPUT}
    return hashlib.sha256(json.dumps(values, default=str, sort_keys=True).encode()).hexdigest()[:12]


def encode(position: Position, wanted: Any) -> str:
    start = position.start.astimezone(UTC).isoformat() if position.start is not None else None
    payload = json.dumps([1, start, position.id, fingerprint(wanted)], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(cursor: str, wanted: Any) -> Position:
    """The position ``cursor`` names, or BadCursor saying why not."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor("not a cursor of this API (too long)")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload: Any = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadCursor("not a cursor of this API (use the `next` value of the previous page as is)") from None
    if not (isinstance(payload, list) and len(payload) == 4 and payload[0] == 1):
        raise BadCursor("not a cursor of this API (use the `next` value of the previous page as is)")
    _, start, row_id, mark = payload
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 < row_id < 2**63:
        raise BadCursor("not a cursor of this API (bad position)")
    if mark != fingerprint(wanted):
        raise BadCursor("the cursor belongs to another search: repeat the same filters with `next`")
    return Position(_moment(start), row_id)


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadCursor("not a cursor of this API (bad position)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC: no cursor of ours says that
        raise BadCursor("not a cursor of this API (bad position)") from None
