"""Fault F: a live file that grows by 500,000 rows between two cycles.

Today's file (local transport, the PBX's own date) is read once, then the listener appends
``ASTERISK_FAULT_GROWTH_ROWS`` rows (default 12,000 for ``make test``; the bench report runs the
full 500,000) to ``AlternativeAPIlogs``. Each live cycle is a real ``asterisk-pipeline sync live``
process with ``ASTERISK_LIVE_MAX_ROWS_PER_CYCLE`` at a quarter of the growth: the backlog must be
caught up over several cycles, none taking more than the cap, the peak RSS of every cycle
process is measured (``wait4`` in a small launcher), and the warehouse must equal a clean
import of the final file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
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


# Linux keeps a process's RSS high-water mark across exec, and subprocess starts children
# with vfork: a child of the test process reports the test process's own peak (715 MB after a
# full suite) as its ru_maxrss. A small launcher starts the cycle instead, so the cycle's
# figure starts from the launcher's ~10 MB, and reports the cycle's peak on its last line.
_LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
print(f"peak-rss-kb {usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _cycle(env: dict[str, str]) -> tuple[int, float, float]:
    """One live cycle process: (rows read, seconds, peak RSS MB of the process)."""
    began = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(BIN / "asterisk-pipeline"), "sync", "live"],
        env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - began
    stdout, stderr = completed.stdout, completed.stderr
    if completed.returncode != 0:
        raise RuntimeError(f"sync live failed ({completed.returncode}): {stdout}{stderr}")
    peak_kb = int(stderr.strip().splitlines()[-1].split()[-1])
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    rows = sum(int(line.get("rows_read", 0)) for line in lines if "file_date" in line)
    return rows, seconds, peak_kb / 1024


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
