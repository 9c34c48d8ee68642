"""The ``enterprises`` table: read fresh on every sync (SPEC §3), written only by the CLI/tests."""
from __future__ import annotations

import re

from sqlalchemy import Connection, and_, select

from ..model import Enterprise
from .schema import enterprises

# Enterprise numbers end up in Dagster partition keys ('|' splits them) and file paths.
_SAFE_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")


def validate_number(number: str) -> str:
    """The number itself, or ValueError naming the allowed characters."""
    if not isinstance(number, str) or not _SAFE_NUMBER.match(number):
        raise ValueError(
            f"invalid enterprise number {number!r}: use 1-32 of A-Z a-z 0-9 _ -"
        )
    return number


def _enterprise(row: object) -> Enterprise:
    return Enterprise(
        number=row.number, name=row.name, host=row.host, secret=row.secret,  # type: ignore[attr-defined]
        ip=row.ip, token=row.name2,  # type: ignore[attr-defined]
    )


def get_enterprise(conn: Connection, number: str, *, active_only: bool = False) -> Enterprise | None:
    query = select(enterprises).where(enterprises.c.number == number)
    if active_only:
        query = query.where(and_(enterprises.c.is_enabled, enterprises.c.active))
    row = conn.execute(query).first()
    return _enterprise(row) if row is not None else None


def active_enterprises(conn: Connection) -> list[Enterprise]:
    """The active set: ``is_enabled AND active``, ordered by number."""
    rows = conn.execute(
        select(enterprises)
        .where(and_(enterprises.c.is_enabled, enterprises.c.active))
        .order_by(enterprises.c.number)
    )
    return [_enterprise(row) for row in rows]


def upsert_enterprise(
    conn: Connection, enterprise: Enterprise, *, is_enabled: bool = True, active: bool = True
) -> None:
    validate_number(enterprise.number)
    values = {
        "name": enterprise.name, "host": enterprise.host, "secret": enterprise.secret,
        "ip": enterprise.ip, "name2": enterprise.token, "is_enabled": is_enabled, "active": active,
    }
    updated = conn.execute(
        enterprises.update().where(enterprises.c.number == enterprise.number).values(**values)
    ).rowcount
    if not updated:
        conn.execute(enterprises.insert().values(number=enterprise.number, **values))
