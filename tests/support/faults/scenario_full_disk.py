"""Fault D: the disk under ASTERISK_HOME fills up during a history copy.

``ASTERISK_HOME`` is a real 8 MB tmpfs (mounted here as root, unmounted at the end); a filler
file leaves less room than enterprise A's day file needs, more than enterprise B's. Both PBXes
are real sshd directories read over SSH (the PBX's ``sqlite3 .backup``, then an SFTP copy into
``$ASTERISK_HOME/cache/<number>/``). Expected: A's history sync fails with kind ``disk_full`` and
a message naming the cache directory, recorded in ``sync_runs``; no partial copy is left or
cached; B's sync succeeds; after the filler is removed A's next sync copies and reads the whole
file, and the warehouse equals a clean import of both files. Before the fix the ENOSPC of the
local write was classified ``unreachable`` (a PBX problem) and retried with backoff.
"""
from __future__ import annotations

import os
import subprocess
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.pbx.transport import quick_check
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import sync_history_range
from asterisk_pipeline.warehouse.schema import sync_runs
from asterisk_pipeline.warehouse.stats import DayRange
from tests.support.faults.pbx_sshd import sshd_missing, sshd_pbx
from tests.support.faults.report import FaultResult
from tests.support.faults.warehouse_diff import add_enterprises, clean_import, diff, new_sqlite

D = date(2025, 7, 3)
BIG, SMALL = "0461", "0462"
TMPFS_MB = 8


def tmpfs_missing() -> str | None:
    if os.geteuid() != 0:
        return "a tmpfs mount (needs root)"
    return sshd_missing()


def _free(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def full_disk_history_copy(workdir: Path) -> FaultResult:
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(home)],
                   check=True, capture_output=True)
    engine = new_sqlite(workdir / "central.db")  # the warehouse is not on the full disk
    try:
        with sshd_pbx(workdir / "pbx", "127.0.1.46", home=home) as (server, base):
            files = {}
            for number, calls in ((BIG, 350), (SMALL, 40)):
                folder = server.served_dir / number
                folder.mkdir()
                files[number] = folder / f"Listen_AMI_{D.isoformat()}.db"
                write_day_file(files[number], token=token_for(number), day=D, calls=calls,
                               seed=int(number), start_id=int(number) * 10**5)
            fleet_file = workdir / "fleet.toml"
            fleet_file.write_text("".join(
                f'[enterprises."{n}"]\nhost = "127.0.1.46"\nremote_dir = "{files[n].parent}"\n'
                for n in (BIG, SMALL)))
            settings = Settings(**{**base.model_dump(), "fleet_file": fleet_file})
            enterprises = [Enterprise(n, f"E{n}", f"pbx{n}.lan", "s", "127.0.1.46", token_for(n))
                           for n in (BIG, SMALL)]
            add_enterprises(engine, enterprises)
            fleet = Fleet.load(settings)
            big_size, small_size = files[BIG].stat().st_size, files[SMALL].stat().st_size
            assert small_size * 3 < big_size < TMPFS_MB * 2**20 // 2, (small_size, big_size)
            filler = home / "filler"
            with open(filler, "wb") as out:  # leave room for B's copy, not for A's
                out.write(b"\0" * (_free(home) - (small_size + big_size) // 2))
            # The fault: both enterprises' history syncs, A's copy hits the full disk.
            outcomes = {e.number: sync_history_range(engine, fleet, e, DayRange(D, D)) for e in enterprises}
            problems = []
            big_out, small_out = outcomes[BIG][0], outcomes[SMALL][0]
            if big_out.ok or big_out.error_kind != "disk_full" or "no space left" not in (
                    big_out.error or ""):
                problems.append(f"A: {big_out.status} {big_out.error_kind}: {big_out.error}")
            if not small_out.ok:
                problems.append(f"B did not go on: {small_out.error_kind}: {small_out.error}")
            with engine.connect() as conn:
                recorded = conn.execute(select(sync_runs.c.status, sync_runs.c.error_kind,
                                               sync_runs.c.error)
                                        .where(sync_runs.c.enterprise_id == BIG)).all()
            if [(r.status, r.error_kind) for r in recorded] != [("failed", "disk_full")]:
                problems.append(f"sync_runs for A: {recorded}")
            cache = home / "cache" / BIG
            leftovers = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
            if leftovers:
                problems.append(f"left in A's cache after the failure: {leftovers}")
            # Recovery: space is freed, the next sync of A copies and reads the whole file.
            filler.unlink()
            began = time.monotonic()
            again = sync_history_range(engine, fleet, enterprises[0], DayRange(D, D))[0]
            recovery = time.monotonic() - began
            cached = cache / files[BIG].name
            if not again.ok or not cached.is_file() or cached.stat().st_size != big_size \
                    or quick_check(cached) is not None:
                problems.append(f"recovery: {again.status} {again.error_kind}: {again.error}")
            clean = clean_import(workdir / "clean", enterprises, [(n, files[n]) for n in files],
                                 "history", settings)
            result = diff(engine, clean)
            clean.dispose()
            message = big_out.error or ""
    finally:
        engine.dispose()
        subprocess.run(["umount", str(home)], check=False, capture_output=True)
    ok = not problems and result.lost == 0 and result.duplicated == 0 and result.differing == 0
    return FaultResult(
        fault=f"full disk under ASTERISK_HOME ({TMPFS_MB} MB tmpfs) during a history copy",
        behaviour=("failed as disk_full in sync_runs, no partial copy kept, the other enterprise "
                   "synced; full file read after space was freed") if ok else "; ".join(problems),
        rows_lost=result.lost, rows_duplicated=result.duplicated, recovery_seconds=recovery,
        ok=ok, details=f"A's failure: {message}; " + result.summary(),
    )


SCENARIOS = (full_disk_history_copy,)
