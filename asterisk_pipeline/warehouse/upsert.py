"""The dialect's ``INSERT … ON CONFLICT`` construct (PostgreSQL and SQLite share its API)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: Connection) -> Callable[..., Any]:
    if conn.dialect.name == "postgresql":
        return postgresql.insert
    if conn.dialect.name == "sqlite":
        return sqlite.insert
    raise ValueError(f"unsupported database {conn.dialect.name!r} (PostgreSQL or SQLite)")
