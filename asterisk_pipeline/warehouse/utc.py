"""The one column type for stored moments: every read returns an aware UTC datetime.

PostgreSQL keeps ``timestamptz`` and hands back aware datetimes (in the session's zone); SQLite
keeps naive UTC text and hands back naive datetimes, or plain strings to raw SQL. Reading every
timestamp through ``UtcDateTime`` — the schema's columns, and ``text()`` SQL via
``.columns(col=UtcDateTime())`` or ``type_coerce`` — leaves no caller to normalize a time itself.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def as_utc(value: datetime | str | None) -> datetime | None:
    """A stored moment as aware UTC: naive (SQLite) is UTC already, aware is converted."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on PostgreSQL, naive UTC text on SQLite; aware UTC in Python both ways.

    A bound value is converted to UTC first (SQLite would store the wall-clock fields of any
    zone and drop it); a naive one is taken as UTC, as the warehouse stores it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        moment = as_utc(value)
        if moment is not None and dialect.name == "sqlite":
            return moment.replace(tzinfo=None)
        return moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return as_utc(value)
