"""Fault E: a PBX whose clock is hours ahead of or behind the central server (SPEC §4.6).

A real sshd serves the PBX's day files; its ``date`` (first on the PATH of its sessions, see
``tests.support.ssh_fixtures`` ``path_env``) prints the PBX clock the scenario sets, and each live cycle
gets the central clock as ``now``: both are controlled, so the test does not depend on the hour.
The PBX's listener (``append_calls``) writes the file of the PBX's own date.

- behind: the PBX is 2.5 h behind. At central D+1 00:30 … 02:00 it is still D 22:00 … 23:30 on the
  PBX, still writing D. Before the fix the central clock decided: "today" was D+1 (missing file:
  a failed sync every cycle) and D was finished after the central midnight, so the PBX's last
  1.5 h of D were skipped.
- ahead: the PBX is 2 h ahead. At central D 22:30 the PBX is at D+1 00:30 and writes D+1; before
  the fix D+1 was not read until the central midnight.

Each cycle's window is checked, no cycle fails, and the warehouse equals a clean import of the
final files.
"""
from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.devtools.live import append_calls
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.sync import sync_live
from tests.support.faults.pbx_sshd import sshd_pbx
from tests.support.faults.report import FaultResult
from tests.support.faults.warehouse_diff import add_enterprises, clean_import, diff, new_sqlite

ZONE = ZoneInfo("Europe/Moscow")
D = date(2025, 7, 3)
NUMBER = "0451"


def _at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZONE)


def _file(served: Path, day: date) -> Path:
    return served / f"Listen_AMI_{day.isoformat()}.db"


def _run(workdir: Path, name: str, skew: timedelta,
         steps: list[tuple[datetime, list[tuple[date, int, int]], list[str]]]) -> FaultResult:
    """``steps``: (PBX clock, calls the listener appends before the cycle as (day, hour, count),
    the file dates the cycle must read)."""
    fakebin = workdir / "pbxbin"
    fakebin.mkdir(parents=True, exist_ok=True)
    clock = workdir / "pbx_clock"
    date_cmd = fakebin / "date"
    date_cmd.write_text(f"#!/bin/sh\nexec cat {clock}\n")  # `date +%s` on the PBX
    date_cmd.chmod(0o755)
    enterprise = Enterprise(NUMBER, "Skewed", "pbx0451.lan", "s", "127.0.1.45", token_for(NUMBER))
    engine = new_sqlite(workdir / "central.db")
    add_enterprises(engine, [enterprise])
    problems: list[str] = []
    first_new_day_s: float | None = None
    try:
        with sshd_pbx(workdir, "127.0.1.45", path_env=f"{fakebin}:/usr/bin:/bin",
                      pbx_timezone="Europe/Moscow") as (server, settings):
            fleet = Fleet.load(settings)
            days_seen: set[str] = set()
            for index, (pbx_now, appends, expected) in enumerate(steps):
                for day, hour, calls in appends:
                    append_calls(_file(server.served_dir, day), token=token_for(NUMBER), day=day,
                                 calls=calls, seed=index * 10 + hour, not_before=hour * 3600,
                                 min_id=10**6 * (day - D).days + 10**6,
                                 commit_every_row=False)
                clock.write_text(f"{int(pbx_now.timestamp())}\n")
                central = (pbx_now - skew).astimezone(UTC)
                began = time.monotonic()
                outcomes = sync_live(engine, fleet, enterprise, now=central)
                spent = time.monotonic() - began
                read = [o.file_date for o in outcomes]
                bad = [f"{o.file_date}: {o.error_kind}: {o.error}" for o in outcomes if not o.ok]
                if bad:
                    problems.append(f"cycle {index} failed: {bad}")
                if read != expected:
                    problems.append(f"cycle {index} (PBX {pbx_now:%d %H:%M}, central "
                                    f"{central.astimezone(ZONE):%d %H:%M}) read {read}, "
                                    f"expected {expected}")
                new = set(read) - days_seen - {D.isoformat()}
                if new and first_new_day_s is None:
                    first_new_day_s = spent
                days_seen |= set(read)
            files = [(NUMBER, f) for f in sorted(server.served_dir.glob("Listen_AMI_*.db"))]
            clean = clean_import(workdir / "clean", [enterprise], files, "live", settings)
            result = diff(engine, clean)
            clean.dispose()
    finally:
        engine.dispose()
    ok = not problems and result.lost == 0 and result.duplicated == 0 and result.differing == 0
    return FaultResult(
        fault=f"PBX clock {name} ({abs(skew).total_seconds() / 3600:.1f} h)",
        behaviour="live window follows the PBX date (its `date`), no failed cycle, no file skipped"
        if ok else "; ".join(problems) or "rows differ from a clean import",
        rows_lost=result.lost, rows_duplicated=result.duplicated,
        recovery_seconds=first_new_day_s, ok=ok,
        details=result.summary() + ("; " + "; ".join(problems) if problems else ""),
    )


def clock_behind(workdir: Path) -> FaultResult:
    """PBX 2.5 h behind: central already on D+1 while the PBX still writes D."""
    n = D + timedelta(days=1)
    return _run(workdir, "behind", -timedelta(hours=2, minutes=30), [
        (_at(D, 22, 0), [(D, 20, 15)], [D.isoformat()]),            # central D+1 00:30
        (_at(D, 23, 30), [(D, 22, 15)], [D.isoformat()]),           # central D+1 02:00
        (_at(n, 0, 10), [(D, 23, 3), (n, 0, 10)], [D.isoformat(), n.isoformat()]),
        (_at(n, 0, 40), [(n, 0, 10)], [n.isoformat()]),             # D read after midnight
    ])


def clock_ahead(workdir: Path) -> FaultResult:
    """PBX 2 h ahead: the PBX already writes D+1 while central is still on D."""
    n = D + timedelta(days=1)
    return _run(workdir, "ahead", timedelta(hours=2), [
        (_at(D, 23, 0), [(D, 21, 15)], [D.isoformat()]),            # central D 21:00
        (_at(n, 0, 30), [(D, 23, 3), (n, 0, 10)], [D.isoformat(), n.isoformat()]),  # central 22:30
        (_at(n, 1, 0), [(n, 0, 10)], [n.isoformat()]),              # central D 23:00
    ])


SCENARIOS = (clock_behind, clock_ahead)
