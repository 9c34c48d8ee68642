"""The ``enterprises`` table: read fresh on every sync (SPEC §3), written only by the CLI/tests.

The table belongs to the platform, so its ``number`` is input like any other: a row whose number
is outside the safe charset never leaves this module as an ``Enterprise`` (it would become a
file path, a cache path, a Dagster partition key). It is skipped with a warning that shows it
escaped and truncated, and ``skipped_enterprises`` lists it for the quality check and fleet health.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import Connection, and_, select

from ..model import Enterprise
from .schema import enterprises

# Enterprise numbers end up in Dagster partition keys ('|' splits them) and file paths.
_SAFE_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
# How much of a bad number a log line or a report shows (repr-escaped, then cut).
EXCERPT_CHARS = 40

log = logging.getLogger("asterisk_pipeline.registry")


def is_valid_number(number: object) -> bool:
    """True for a number safe in a path, a partition key and a command (the CLI's charset)."""
    return isinstance(number, str) and _SAFE_NUMBER.match(number) is not None


def number_excerpt(number: object) -> str:
    """A bad number as a log line may show it: repr-escaped (no newline, NUL or control
    character gets through) and cut to ``EXCERPT_CHARS``."""
    text = repr(number)
    return text if len(text) <= EXCERPT_CHARS else f"{text[:EXCERPT_CHARS]}…(+{len(text) - EXCERPT_CHARS})"


@dataclass(frozen=True)
class SkippedEnterprise:
    """An active ``enterprises`` row that is never synced: its number (excerpt) and why."""

    number: str  # number_excerpt(): safe to log or show, never to use
    reason: str


def validate_number(number: str) -> str:
    """The number itself, or ValueError naming the allowed characters."""
    if not is_valid_number(number):
        raise ValueError(
            f"invalid enterprise number {number_excerpt(number)}: use 1-32 of A-Z a-z 0-9 _ -"
        )
    return number


def _reason(number: object) -> str:
    if not isinstance(number, str):
        return f"number is not text ({type(number).__name__})"
    if not number:
        return "number is empty"
    if len(number) > 32:
        return f"number is {len(number)} characters long (at most 32)"
    return "number holds characters outside A-Z a-z 0-9 _ - (it would reach a path or partition key)"


def _enterprise(row: object) -> Enterprise:
    return Enterprise(
        number=row.number, name=row.name, host=row.host, secret=row.secret,  # type: ignore[attr-defined]
        ip=row.ip, token=row.name2,  # type: ignore[attr-defined]
    )


def get_enterprise(conn: Connection, number: str, *, active_only: bool = False) -> Enterprise | None:
    query = select(enterprises).where(enterprises.c.number == number)
    if active_only:
        query = query.where(and_(enterprises.c.is_enabled, enterprises.c.active))
    if not is_valid_number(number):
        return None  # no row with such a number is ever used (and the CLI/REST refuse it first)
    row = conn.execute(query).first()
    return _enterprise(row) if row is not None else None


def _active_rows(conn: Connection) -> list[object]:
    return list(conn.execute(
        select(enterprises)
        .where(and_(enterprises.c.is_enabled, enterprises.c.active))
        .order_by(enterprises.c.number)
    ))


def active_enterprises(conn: Connection) -> list[Enterprise]:
    """The active set: ``is_enabled AND active``, ordered by number, without the rows whose
    number is unsafe (each skipped one is logged; ``skipped_enterprises`` reports them)."""
    found = []
    for row in _active_rows(conn):
        number = row.number  # type: ignore[attr-defined]
        if is_valid_number(number):
            found.append(_enterprise(row))
        else:
            log.warning("enterprises row with number %s skipped: %s", number_excerpt(number), _reason(number))
    return found


def skipped_enterprises(conn: Connection) -> list[SkippedEnterprise]:
    """Active rows that ``active_enterprises`` leaves out, as (number excerpt, reason)."""
    return [
        SkippedEnterprise(number_excerpt(row.number), _reason(row.number))  # type: ignore[attr-defined]
        for row in _active_rows(conn)
        if not is_valid_number(row.number)  # type: ignore[attr-defined]
    ]


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
