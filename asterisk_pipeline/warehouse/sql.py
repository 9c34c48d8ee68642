"""Running the loader's hand-written SQL: named parameters, typed where the dialect needs it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Date, bindparam, text


def execute(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    """Execute with only the parameters the statement names; returns the row count.

    ``:fd`` (the file date) is bound as a DATE so SQLite stores SQLAlchemy's text form and
    PostgreSQL does not see an untyped string.
    """
    statement = text(sql)
    if ":fd" in sql:
        statement = statement.bindparams(bindparam("fd", type_=Date()))
    return conn.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql}).rowcount
