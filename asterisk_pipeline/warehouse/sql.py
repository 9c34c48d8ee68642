"""Running the loader's hand-written SQL: named parameters, typed where the dialect needs it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Date, TextClause, bindparam, text


def statement(sql: str) -> TextClause:
    """The SQL as a statement, ``:fd`` (the file date) bound as a DATE: SQLite then stores
    SQLAlchemy's text form and PostgreSQL does not see an untyped string."""
    clause = text(sql)
    if ":fd" in sql:
        clause = clause.bindparams(bindparam("fd", type_=Date()))
    return clause


def named(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the statement names."""
    return {k: v for k, v in params.items() if f":{k}" in sql}


def execute(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    """Execute with only the parameters the statement names; returns the row count."""
    return conn.execute(statement(sql), named(sql, params)).rowcount
