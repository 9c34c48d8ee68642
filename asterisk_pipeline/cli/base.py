"""What every command of the CLI shares: exit codes, argument types, the one error, and the
Invocation that opens the warehouse (read-only where a command only reads) and the fleet."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ..settings import Settings, env_var
from ..warehouse.registry import validate_number

if TYPE_CHECKING:

    from ..pbx.fleet import Fleet

#: 141 = 128 + SIGPIPE: what a shell reports for a tool whose reader went away (``… | head``).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BROKEN_PIPE = 0, 1, 2, 141
DISTRIBUTION = "asterisk-pipeline"


class CliError(Exception):
    """A problem the operator can fix; printed as one line, exit code 2."""


def day_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def positive_arg(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def enterprise_arg(value: str) -> str:
    """An enterprise number as an argument: the registry's charset (``validate_number``), or a
    usage error (exit 2) before anything is opened."""
    try:
        return validate_number(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None




#: Commands that only read the warehouse: they open a read-only SQLite file read-only.
READ_ONLY_COMMANDS = "stats, missed, calls show, calls search, enterprise list, fleet health"


@dataclass
class Invocation:
    """What one run of the CLI shares between its steps: the arguments, the settings, and the
    fleet — read from the fleet file at most once, and only by a command that needs it."""

    args: argparse.Namespace
    settings: Settings

    @cached_property
    def fleet(self) -> Fleet:
        from ..pbx.fleet import Fleet

        return Fleet.load(self.settings)

    def warehouse(
        self, *, write: bool, enterprises: Sequence[str] = (), active: bool = False,
    ) -> Engine:
        """The command's central database (``--db`` or the settings), connected, with its
        schema, and every named enterprise known (``active``: and enabled) — or a CliError."""
        engine = open_engine(self.args.db, self.settings, write=write)
        require_schema(engine, self.args.db or self.settings.resolved_database_url, self.settings)
        check_enterprises(engine, enterprises, active=active)
        return engine


def elsewhere(settings: Settings, shown_target: str) -> str:
    """How to point the CLI at another warehouse, in one clause (and where the demo keeps its
    own, when there is one under $ASTERISK_HOME: ``make run`` writes .asterisk/demo/asterisk.db)."""
    from ..warehouse.db import mask_url

    hint = f"or point the CLI at another warehouse with --db URL or {env_var('database_url')}=URL"
    demo = (settings.home / "demo" / "asterisk.db").resolve()
    demo_url = f"sqlite:///{demo}"
    if demo.exists() and mask_url(demo_url) != shown_target:
        hint += f" (the demo's is {demo_url})"
    return hint


def open_engine(url: str | None, settings: Settings, *, write: bool = True) -> Engine:
    """The central database, connected, or a one-line CliError naming it (password masked).

    A command that only reads (``write=False``) opens a SQLite warehouse it cannot write (a
    read-only mount or file) read-only; one that writes is refused there before it starts."""
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from ..warehouse.db import (
        make_engine,
        mask_url,
        sqlite_in_wal_mode,
        sqlite_path,
        sqlite_read_only_reason,
    )

    target = url or settings.resolved_database_url
    shown = mask_url(target)
    try:
        path = sqlite_path(target)
    except (ArgumentError, ValueError) as exc:
        raise CliError(f"not a database URL: {shown} ({first_line(exc, target)})") from None
    read_only = False
    if path is not None:
        reason = sqlite_read_only_reason(path)
        if reason and write:
            raise CliError(
                f"the warehouse {shown} is read-only ({reason}): this command writes to it;"
                f" only {READ_ONLY_COMMANDS} work there"
            )
        if not write and not path.exists():  # a read never creates the file
            raise CliError(
                f"no warehouse at {shown}: create it with `asterisk-pipeline db upgrade`,"
                f" {elsewhere(settings, shown)}"
            )
        # A read opens anything but a warehouse in WAL mode read-only: an empty file or a
        # foreign database stays byte for byte as it was.
        read_only = reason is not None or (not write and not sqlite_in_wal_mode(path))
    try:
        engine = make_engine(target, read_only=read_only, sessions=settings.ssh_max_sessions)
        with engine.connect():
            pass
    except (ArgumentError, ValueError, ImportError) as exc:  # unknown dialect or driver
        raise CliError(f"not a usable database URL: {shown} ({first_line(exc, target)})") from None
    except DBAPIError as exc:
        raise CliError(
            f"cannot open the central database {shown}: {first_line(exc.orig or exc, target)}"
        ) from None
    return engine


def first_line(exc: BaseException, url: str | None = None) -> str:
    """The first line of an error, with the URL's password (as written or decoded) masked."""
    from urllib.parse import unquote

    from ..warehouse.db import url_password

    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    password = url_password(url) if url else None
    for form in (password, unquote(password)) if password else ():
        line = line.replace(form, "***")
    return line


def check_enterprises(engine: Engine, numbers: Sequence[str], *, active: bool) -> None:
    """CliError (exit 2) naming every number the warehouse does not know: a typo must not pass
    as a run with nothing to do. ``active``: a sync also needs it enabled; a read is content
    with an enterprise that still has stored calls after leaving the ``enterprises`` table."""
    from sqlalchemy import select

    from ..warehouse.schema import calls, enterprises

    wanted = list(dict.fromkeys(numbers))  # valid already: the arguments' type (enterprise_arg)
    if not wanted:
        return
    with engine.connect() as conn:
        enabled = {
            row.number: bool(row.is_enabled and row.active)
            for row in conn.execute(
                select(enterprises.c.number, enterprises.c.is_enabled, enterprises.c.active)
                .where(enterprises.c.number.in_(wanted))
            )
        }
        unknown = [n for n in wanted if n not in enabled]
        if unknown and not active:
            stored = set(conn.execute(
                select(calls.c.enterprise_id).where(calls.c.enterprise_id.in_(unknown)).distinct()
            ).scalars())
            unknown = [n for n in unknown if n not in stored]
    inactive = [n for n in wanted if active and n in enabled and not enabled[n]]
    problems = []
    if unknown:
        problems.append(f"{listed(unknown)} not in the enterprises table" + ("" if active else " nor in calls"))
    if inactive:
        problems.append(f"{listed(inactive)} inactive")
    if problems:
        raise CliError("; ".join(problems) + " (see `asterisk-pipeline enterprise list`)")


def listed(numbers: list[str]) -> str:
    """'enterprise 9999 is' / 'enterprises 9998, 9999 are'."""
    one = len(numbers) == 1
    return f"{'enterprise' if one else 'enterprises'} {', '.join(numbers)} {'is' if one else 'are'}"


def require_schema(engine: Engine, url: str, settings: Settings) -> None:
    from ..warehouse.db import mask_url
    from ..warehouse.migrate import current_revision

    if current_revision(engine) is None:
        shown = mask_url(url)
        raise CliError(
            f"the central database {shown} has no schema yet: run `asterisk-pipeline db upgrade`,"
            f" {elsewhere(settings, shown)}"
        )


