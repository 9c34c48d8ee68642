"""A day file recreated under the same name, for every transport (issue 12, point 1).

The listener restarting, a restore or the day-rollover fault leaves a new ``Listen_AMI_<date>.db``
whose ids start again at 1. Each scenario imports a file, replaces it by a *smaller* one (the
row at the cursor is gone), appends to that, then replaces it by a *larger* one (the row at the
cursor exists but is another row), syncing after each step through one transport:

* ``local``: a mirrored directory (live rows read in place, history from the file);
* ``ssh-query``: the PBX's own ``sqlite3`` over a real ``sshd`` (the live flow's default);
* ``ssh-copy``: whole-file SFTP copies into the history cache (live with
  ``ASTERISK_LIVE_FETCH=copy``, and the history flow).

The clean import it is compared with is one file holding the three files' rows one after the
other (what the PBX wrote that day, in order), imported once: every call, leg, participant,
event and reject must be the same — nothing lost, nothing doubled, no row skipped.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, closing
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.devtools.live import append_calls
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import (
    LocalDayFile,
    SyncOutcome,
    import_day_file,
    sync_history_day,
    sync_live,
)
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.faults.report import FaultResult
from tests.support.snapshot import snapshot
from tests.support.ssh_fixtures import SSHD, SshServer, keygen

MINSK = ZoneInfo("Europe/Minsk")
DAY = date(2025, 7, 3)
NOON = datetime(2025, 7, 3, 12, 0, tzinfo=MINSK)
NUMBER = "0327"
TOKEN = token_for(NUMBER)
SSH_HOST = "127.0.1.30"
TABLES = ("APIlogs", "AlternativeAPIlogs")

#: (first file's calls, the smaller replacement's, calls appended to it, the larger replacement's)
SIZES = (40, 12, 5, 70)


def ssh_can_run() -> bool:
    return os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen") is not None and os.geteuid() == 0


def _enterprise(transport: str) -> Enterprise:
    host = None if transport == "local" else SSH_HOST
    return Enterprise(NUMBER, "E0327", "pbx0327.lan", "secret-0327", host, TOKEN)


def _engine(path: Path, enterprise: Enterprise) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, enterprise)
    return engine


def _concatenate(parts: list[Path], target: Path) -> None:
    """One file with every part's rows in order, ids renumbered (what the PBX wrote that day)."""
    with closing(sqlite3.connect(parts[0])) as first:
        schema = [sql for (sql,) in first.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", TABLES)]
    with closing(sqlite3.connect(target)) as out:
        for sql in schema:
            out.execute(sql)
        for table in TABLES:
            for part in parts:
                with closing(sqlite3.connect(part)) as source:
                    rows = source.execute(
                        f"SELECT DateTime, event, Uniqueid, request, status, response, responseTime"
                        f" FROM {table} ORDER BY id").fetchall()
                out.executemany(
                    f"INSERT INTO {table} (DateTime, event, Uniqueid, request, status, response,"
                    " responseTime) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        out.commit()


def _comparable(engine: Engine) -> Counter[tuple[str, tuple[Any, ...]]]:
    """Every stored row but the cursors, as a multiset (cursors differ by design)."""
    rows: Counter[tuple[str, tuple[Any, ...]]] = Counter()
    for table, values in snapshot(engine).items():
        if table != "cursors":
            rows.update((table, tuple(v)) for v in values)
    return rows


SyncStep = Callable[[Engine, Fleet, Enterprise], SyncOutcome]


def _live_step(engine: Engine, fleet: Fleet, enterprise: Enterprise) -> SyncOutcome:
    outcomes = sync_live(engine, fleet, enterprise, now=NOON)
    (today,) = [o for o in outcomes if o.file_date == DAY.isoformat()]
    return today


def _history_step(engine: Engine, fleet: Fleet, enterprise: Enterprise) -> SyncOutcome:
    return sync_history_day(engine, fleet, enterprise, DAY)


def recreated_file(workdir: Path, *, transport: str, flow: Flow) -> FaultResult:
    """Import, replace smaller, append, replace larger; compare with the day imported once."""
    name = f"recreated file ({transport}, {flow.value})"
    with ExitStack() as stack:
        served = workdir / "pbx"
        settings = _settings(workdir, served, transport, stack)
        path = day_file_path(served, NUMBER, DAY) if transport == "local" else served / day_file_path(
            Path(), NUMBER, DAY).name
        fleet = Fleet.load(settings)
        enterprise = _enterprise(transport)
        engine = _engine(workdir / "faulted.db", enterprise)
        chosen: SyncStep = _live_step if flow is Flow.LIVE else _history_step
        step = partial(chosen, enterprise=enterprise)
        kept: list[Path] = []

        def keep() -> None:
            copy = workdir / f"generation-{len(kept)}.db"
            shutil.copyfile(path, copy)
            kept.append(copy)

        first, smaller, appended, larger = SIZES
        write = partial(write_day_file, path, token=TOKEN, day=DAY)
        write(calls=first, seed=1, start_id=0)
        outcomes = [step(engine, fleet)]
        keep()
        write(calls=smaller, seed=2, start_id=300_000)
        time.sleep(1.1)  # a new mtime, as a recreated file has (the copy cache keys on it)
        began = time.monotonic()
        outcomes.append(step(engine, fleet))
        recovered = time.monotonic() - began
        append_calls(path, token=TOKEN, day=DAY, calls=appended, seed=3, min_id=600_000,
                     commit_every_row=False)
        outcomes.append(step(engine, fleet))
        keep()
        write(calls=larger, seed=4, start_id=900_000)
        time.sleep(1.1)
        outcomes.append(step(engine, fleet))
        keep()
        outcomes.append(step(engine, fleet))  # nothing new: nothing read, nothing replaced

        reference = _engine(workdir / "clean.db", enterprise)
        whole = workdir / "whole-day.db"
        _concatenate(kept, whole)
        clean = import_day_file(reference, Fleet.load(settings), enterprise, LocalDayFile(whole, flow, DAY))
        got, want = _comparable(engine), _comparable(reference)
        engine.dispose()
        reference.dispose()

    replaced = [o.file_replaced for o in outcomes]
    lost, doubled = sum((want - got).values()), sum((got - want).values())
    expected_replaced = [False, True, False, True, False]
    ok = (
        clean.ok and all(o.ok for o in outcomes) and lost == 0 and doubled == 0
        and [bool(r) for r in replaced] == expected_replaced
        and outcomes[-1].rows_read == 0
    )
    details = "; ".join(
        f"sync {i + 1}: {o.status}, {o.rows_read} rows" + (f", replaced: {o.file_replaced}" if o.file_replaced else "")
        for i, o in enumerate(outcomes)
    )
    return FaultResult(
        fault=name,
        behaviour="noticed both replacements (row at the cursor gone / another row), read each "
                  "new file from its start, recorded file_replaced",
        rows_lost=lost, rows_duplicated=doubled, recovery_seconds=recovered, ok=ok, details=details,
    )


def _settings(workdir: Path, served: Path, transport: str, stack: ExitStack) -> Settings:
    home = workdir / "home"
    if transport == "local":
        return Settings(home=home, transport="local", local_logs_dir=served, pbx_timezone="Europe/Minsk")
    key = workdir / "id_ed25519"
    public = keygen(key, "recreated-file")
    server = SshServer(SSH_HOST, 0, authorized_keys=[public], served_dir=served,
                       base_dir=workdir / "sshd")
    stack.enter_context(server)
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(server.known_hosts_line() + "\n")
    return Settings(
        home=home, ssh_user="root", ssh_key_file=key, ssh_port=server.port,
        remote_dir=str(served), known_hosts_file=known_hosts, ssh_connect_timeout_s=5.0,
        ssh_retries=2, live_fetch="copy" if transport == "ssh-copy" else "query",
        pbx_timezone="Europe/Minsk",
    )


SCENARIOS = (
    partial(recreated_file, transport="local", flow=Flow.LIVE),
    partial(recreated_file, transport="local", flow=Flow.HISTORY),
    partial(recreated_file, transport="ssh-query", flow=Flow.LIVE),
    partial(recreated_file, transport="ssh-copy", flow=Flow.LIVE),
    partial(recreated_file, transport="ssh-copy", flow=Flow.HISTORY),
)
