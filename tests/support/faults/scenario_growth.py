"""Fault F: a live file that grows by 500,000 rows between two cycles.

Today's file (local transport, the PBX's own date) is read once, then the listener appends
``ASTERISK_FAULT_GROWTH_ROWS`` rows (default 12,000 for ``make test``; the bench report runs the
full 500,000) to ``AlternativeAPIlogs``. Each live cycle is a real ``asterisk-pipeline sync live``
process with ``ASTERISK_LIVE_MAX_ROWS_PER_CYCLE`` at a quarter of the growth: the backlog must be
caught up over several cycles, none taking more than the cap, the peak RSS of every cycle
process is measured (``getrusage`` of the waited child), and the warehouse must equal a clean
import of the final file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.devtools.live import append_calls
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.settings import Settings
from tests.support.faults.report import FaultResult
from tests.support.faults.warehouse_diff import add_enterprises, clean_import, diff, new_sqlite

NUMBER = "0471"
BIN = Path(sys.executable).parent
ROWS = int(os.environ.get("ASTERISK_FAULT_GROWTH_ROWS", "12000"))
RSS_LIMIT_MB = 700  # the cycle process, whatever the backlog (600k-call import: 350 MB)


def _rows(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM AlternativeAPIlogs").fetchone()[0])


def _cycle(env: dict[str, str]) -> tuple[int, float, float]:
    """One live cycle process: (rows read, seconds, peak RSS MB of the process)."""
    began = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([str(BIN / "asterisk-pipeline"), "sync", "live"], env=env,
                                   stdout=out, stderr=err, text=True)
        # wait4: this child's own peak RSS. RUSAGE_CHILDREN would be the largest child the
        # test process ever waited for (a Dagster or uvicorn process of an earlier test).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"sync live failed ({process.returncode}): {stdout}{stderr}")
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    rows = sum(int(line.get("rows_read", 0)) for line in lines if "file_date" in line)
    return rows, seconds, usage.ru_maxrss / 1024


def growth_between_cycles(workdir: Path, rows: int = ROWS) -> FaultResult:
    cap = max(1000, rows // 4)
    logs = workdir / "logs"
    zone = ZoneInfo(Settings().pbx_timezone)
    today = datetime.now(zone).date()
    path = logs / NUMBER / f"Listen_AMI_{today.isoformat()}.db"
    db = workdir / "central.db"
    engine = new_sqlite(db)
    enterprise = Enterprise(NUMBER, "Growing", "pbx0471.lan", "s", None, token_for(NUMBER))
    add_enterprises(engine, [enterprise])
    env = {**os.environ, "ASTERISK_DATABASE_URL": f"sqlite:///{db}", "ASTERISK_HOME":
           str(workdir / "home"), "ASTERISK_TRANSPORT": "local",
           "ASTERISK_LOCAL_LOGS_DIR": str(logs), "ASTERISK_LIVE_MAX_ROWS_PER_CYCLE": str(cap)}
    append_calls(path, token=token_for(NUMBER), day=today, calls=100, seed=1,
                 commit_every_row=False, tables=("AlternativeAPIlogs",), not_before=0)
    before = _rows(path)
    first, _, _ = _cycle(env)
    # The fault: ``rows`` more rows between two cycles (calls of ~13 rows each).
    generated = time.monotonic()
    while _rows(path) - before < rows:
        append_calls(path, token=token_for(NUMBER), day=today,
                     calls=max(1, (rows - (_rows(path) - before)) // 15), seed=_rows(path),
                     commit_every_row=False, tables=("AlternativeAPIlogs",))
    generated = time.monotonic() - generated
    grown = _rows(path) - before
    began = time.monotonic()
    cycles: list[tuple[int, float, float]] = []
    while True:
        cycle = _cycle(env)
        cycles.append(cycle)
        if cycle[0] == 0 or len(cycles) > 2 * (grown // cap + 2):
            break
    recovery = time.monotonic() - began
    read = sum(c[0] for c in cycles)
    peak = max(c[2] for c in cycles)
    problems = []
    if first != before:
        problems.append(f"first cycle read {first} of {before}")
    if read != grown:
        problems.append(f"caught up {read} of {grown} rows")
    if any(c[0] > cap for c in cycles):
        problems.append(f"a cycle read more than the cap {cap}: {[c[0] for c in cycles]}")
    if len([c for c in cycles if c[0]]) < grown // cap:
        problems.append("fewer cycles than the cap allows")
    if peak > RSS_LIMIT_MB:
        problems.append(f"peak RSS {peak:.0f} MB > {RSS_LIMIT_MB} MB")
    clean = clean_import(workdir / "clean", [enterprise], [(NUMBER, path)], "live")
    result = diff(engine, clean)
    clean.dispose()
    engine.dispose()
    ok = not problems and result.lost == 0 and result.duplicated == 0 and result.differing == 0
    per_cycle = ", ".join(f"{c[0]} rows/{c[1]:.0f}s" for c in cycles)
    return FaultResult(
        fault=f"live file grew by {grown:,} rows between two cycles",
        behaviour=(f"caught up in {len([c for c in cycles if c[0]])} cycles of <= {cap:,} rows "
                   f"(ASTERISK_LIVE_MAX_ROWS_PER_CYCLE), peak RSS {peak:.0f} MB")
        if ok else "; ".join(problems),
        rows_lost=result.lost, rows_duplicated=result.duplicated, recovery_seconds=recovery,
        ok=ok, details=f"cycles: {per_cycle}; rows generated in {generated:.0f}s; "
        + result.summary(),
    )


SCENARIOS = (growth_between_cycles,)
