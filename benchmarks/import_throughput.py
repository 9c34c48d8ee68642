"""Import throughput: day files into PostgreSQL, against a plain COPY of the same rows.

Why: the targets are relative to what the hardware can do, so every repetition measures, on a
fresh database and the same rows, (1) the ceiling - reading ``APIlogs`` and COPYing the raw rows
into a table with a JSONB column, no normalization (``../shared/bench/README.md``) - and (2) the
real end-to-end ``asterisk-pipeline import-file --flow history`` (process start to exit).

Three inputs, each with its same-run baseline:

* the reference file of ``../shared/bench`` (``gen_day.py --calls 200000 --seed 1``), comparable
  across versions: also a re-import (the cursor says nothing is new) and a forced re-import
  (every row read again, all duplicates);
* a simulator day with every conversation shape of SPEC §2.3 (transfers, FollowMe, busy
  colleagues…), the assembly's realistic load;
* the reference generator at 600,000 calls, for memory that must not grow with the day.

Both sides run as child processes, so each one's peak RSS is its own and nothing stays warm in
this process. The file uses ``dirty_share=0.0``: the JSONB baseline cannot ingest invalid JSON.

Run it through ``python -m benchmarks``; ``python -m benchmarks.import_throughput --copy-baseline
FILE URL`` is the baseline's child process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from psycopg import sql

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATA = ROOT / "bench-data"
GEN_DAY = ROOT.parent / "shared" / "bench" / "gen_day.py"
REFERENCE_DATE = "2024-06-22"
ENTERPRISE = "0327"
DAY = date(2025, 7, 3)
SEED = 1
FULL_CALLS = 123_000  # simulator: ~8.1 APIlogs rows per call -> ~1.0 M source rows
QUICK_CALLS = 12_000
CHUNK_ROWS = 20_000  # same chunk size as the pipeline's default ASTERISK_READ_CHUNK_ROWS
ADMIN_URL = os.environ.get("ASTERISK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
GNU_TIME = Path("/usr/bin/time")

TARGET_ROWS_PER_S = 35_000.0  # on the reference file
TARGET_BASELINE_RATIO = 0.45
TARGET_PEAK_RSS_MB = 400.0  # at 200,000 and at 600,000 calls
TARGET_REIMPORT_SPEEDUP = 3.0


@dataclass(frozen=True)
class Input:
    """One day file to measure: how it is made, and which figures are held to targets."""

    name: str
    kind: str  # 'reference' (../shared/bench/gen_day.py) or 'simulator'
    calls: int
    reimports: bool  # also re-import and forced re-import
    speed_targets: bool  # rows/s and the baseline ratio are targets (else informational)
    max_repeat: int | None = None  # cap on repetitions (the biggest file takes minutes each)


FULL_INPUTS = (
    Input("reference 200,000 calls", "reference", 200_000, True, True),
    Input("simulator day, conversation shapes", "simulator", FULL_CALLS, False, False),
    Input("reference 600,000 calls", "reference", 600_000, False, False, max_repeat=1),
)
QUICK_INPUTS = (
    Input("reference 20,000 calls (quick)", "reference", 20_000, True, True),
    Input("simulator day (quick)", "simulator", QUICK_CALLS, False, False),
)

_BASELINE_SELECT = (
    "SELECT id, DateTime, Uniqueid, event, request, response, status FROM APIlogs "
    "WHERE id > ? ORDER BY id LIMIT ?"
)
_RAW_DDL = (  # as ../shared/bench/README.md describes it
    "CREATE TABLE raw_rows (id bigint PRIMARY KEY, datetime timestamp, uniqueid text, event text,"
    " request jsonb, response text, status text)"
)


@dataclass(frozen=True)
class Measured:
    """One child process: wall time measured here, its peak RSS, and what it printed."""

    seconds: float
    peak_rss_mb: float
    stdout: str


# --- the input file ---------------------------------------------------------------------------

def input_file(spec: Input) -> tuple[Path, int]:
    return reference_file(spec.calls) if spec.kind == "reference" else day_file(spec.calls, SEED)


def reference_file(calls: int) -> tuple[Path, int]:
    """``gen_day.py --calls N --seed 1`` (the shared reference), cached like ``day_file``."""
    final_dir = BENCH_DATA / f"reference-{calls}-{SEED}"
    path = final_dir / f"Listen_AMI_{REFERENCE_DATE}.db"
    meta = final_dir / "summary.json"
    if meta.is_file() and path.is_file():
        return path, int(json.loads(meta.read_text())["apilogs_rows"])
    if not GEN_DAY.is_file():
        raise RuntimeError(f"{GEN_DAY} is missing: the reference generator lives in ../shared/bench")
    partial = final_dir.with_name(final_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(final_dir, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"generating the reference file: {GEN_DAY.name} --calls {calls:,} --seed {SEED} ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(GEN_DAY), "--calls", str(calls), "--seed", str(SEED),
         "--date", REFERENCE_DATE, "--out", str(partial)],
        check=True, capture_output=True, text=True,
    )
    with sqlite3.connect(partial / path.name) as src:
        rows = int(src.execute("SELECT count(*) FROM APIlogs").fetchone()[0])
    (partial / "summary.json").write_text(json.dumps({"calls": calls, "apilogs_rows": rows}))
    partial.rename(final_dir)
    print(f"  generated {rows:,} APIlogs rows in {time.perf_counter() - started:.1f} s", flush=True)
    return path, rows


def day_file(calls: int, seed: int) -> tuple[Path, int]:
    """The cached day file and its APIlogs row count (generation of 1 M rows takes ~20 s).

    Written under a ``.partial`` directory and renamed when complete, so an interrupted
    generation is never mistaken for a cached file.
    """
    final_dir = BENCH_DATA / f"import-{calls}-{seed}"
    meta = final_dir / "summary.json"
    path = day_file_path(final_dir, ENTERPRISE, DAY)
    if meta.is_file() and path.is_file():
        return path, int(json.loads(meta.read_text())["apilogs_rows"])
    partial = final_dir.with_name(final_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(final_dir, ignore_errors=True)
    print(f"generating {calls:,} calls (seed {seed}, dirty_share 0.0) -> {path} ...", flush=True)
    started = time.perf_counter()
    summary = write_day_file(
        day_file_path(partial, ENTERPRISE, DAY), token=token_for(ENTERPRISE), day=DAY,
        calls=calls, seed=seed, dirty_share=0.0,
    )
    (partial / "summary.json").write_text(json.dumps({
        "calls": summary.calls, "answered": summary.answered, "rows": summary.rows,
        "apilogs_rows": summary.rows["APIlogs"], "dirty_rows": summary.dirty_rows,
    }, indent=2))
    partial.rename(final_dir)
    print(f"  generated {summary.rows['APIlogs']:,} APIlogs rows in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return path, summary.rows["APIlogs"]


# --- databases --------------------------------------------------------------------------------

def _url_for(database: str) -> str:
    """``ADMIN_URL`` pointing at another database, as a plain ``postgresql://`` URL."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(("postgresql", parts.netloc, "/" + database, parts.query, ""))


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one repetition; dropped afterwards, also on failure."""
    name = f"bench_{secrets.token_hex(6)}"
    admin = _url_for(urlsplit(ADMIN_URL).path.lstrip("/") or "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url_for(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _server_version() -> str:
    admin = _url_for(urlsplit(ADMIN_URL).path.lstrip("/") or "postgres")
    with psycopg.connect(admin) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# --- child processes --------------------------------------------------------------------------

def _cli() -> list[str]:
    """The console script next to this interpreter, else the module (same code either way)."""
    script = Path(sys.executable).with_name("asterisk-pipeline")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "asterisk_pipeline.cli"]


def _child_env() -> dict[str, str]:
    """Every command gets ``--db``; drop a stray default so nothing else is ever touched."""
    env = dict(os.environ)
    env.pop("ASTERISK_DATABASE_URL", None)
    return env


def run_measured(argv: Sequence[str]) -> Measured:
    """Run one command; wall time from spawn to exit; peak RSS via GNU time, else psutil polls."""
    if GNU_TIME.is_file():
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
            started = time.perf_counter()
            done = subprocess.run(
                [str(GNU_TIME), "-f", "%M", "-o", rss.name, *argv], cwd=ROOT, env=_child_env(),
                capture_output=True, text=True, check=False,
            )
            seconds = time.perf_counter() - started
            _check(argv, done.returncode, done.stdout, done.stderr)
            peak_kb = float(rss.read().strip().splitlines()[-1])
        return Measured(seconds, peak_kb / 1024, done.stdout)
    return _run_polled(argv)


def _run_polled(argv: Sequence[str]) -> Measured:
    """Fallback without GNU time: sample the RSS of the child (and its children) every 50 ms.

    Output goes to temporary files, so a chatty child can never block on a full pipe.
    """
    peak = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=ROOT, env=_child_env(), stdout=out, stderr=err,
                                text=True)
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        _check(argv, proc.returncode, stdout, err.read())
    return Measured(seconds, peak / 2**20, stdout)


def _check(argv: Sequence[str], code: int, stdout: str, stderr: str) -> None:
    if code != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {code}\nstdout: {stdout.strip()}\nstderr: {stderr.strip()}"
        )


def _last_json(stdout: str) -> dict[str, Any]:
    """The one-line JSON summary a command printed (its last non-empty line)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    return dict(json.loads(lines[-1]))


# --- the baseline (child process) -------------------------------------------------------------

def copy_baseline(path: Path, url: str) -> dict[str, Any]:
    """Read APIlogs in keyset chunks and COPY the raw rows into ``raw_rows``: connect to commit."""
    started = time.perf_counter()
    rows = 0
    src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        with psycopg.connect(url) as conn:
            with conn.cursor() as cur, cur.copy(
                "COPY raw_rows (id, datetime, uniqueid, event, request, response, status) FROM STDIN"
            ) as copy:
                last_id = -1
                while True:
                    chunk = src.execute(_BASELINE_SELECT, (last_id, CHUNK_ROWS)).fetchall()
                    if not chunk:
                        break
                    for row in chunk:
                        copy.write_row(row)
                    rows += len(chunk)
                    last_id = chunk[-1][0]
            conn.commit()
    finally:
        src.close()
    return {"rows": rows, "seconds": time.perf_counter() - started}


# --- one repetition ---------------------------------------------------------------------------

def one_repetition(path: Path, reimports: bool = True,
                   inspect: Callable[[str], object] | None = None) -> dict[str, Any]:
    """Baseline, import (and re-import and forced re-import), all on one fresh database;
    ``inspect(url)`` looks at the imported warehouse before it is dropped (shapes_busy_day)."""
    cli = _cli()
    with fresh_database() as url:
        run_measured([*cli, "db", "upgrade", "--db", url])
        run_measured([*cli, "enterprise", "add", ENTERPRISE, "--host", "vos.lan", "--secret", "s",
                      "--db", url])
        with psycopg.connect(url) as conn:
            conn.execute(_RAW_DDL)
        base = run_measured([sys.executable, "-m", "benchmarks.import_throughput",
                             "--copy-baseline", str(path), url])
        base_out = _last_json(base.stdout)
        imp_cmd = [*cli, "import-file", str(path), "--enterprise", ENTERPRISE, "--flow", "history",
                   "--db", url]
        first = run_measured(imp_cmd)
        if inspect is not None:
            inspect(url)
        if not reimports:
            return {
                "baseline": {"seconds": base_out["seconds"], "rows": base_out["rows"],
                             "process_seconds": base.seconds, "peak_rss_mb": base.peak_rss_mb},
                "import": {"seconds": first.seconds, "peak_rss_mb": first.peak_rss_mb,
                           "summary": _last_json(first.stdout)},
            }
        again = run_measured(imp_cmd)
        forced = run_measured([*imp_cmd, "--force"])
    return {
        "baseline": {"seconds": base_out["seconds"], "rows": base_out["rows"],
                     "process_seconds": base.seconds, "peak_rss_mb": base.peak_rss_mb},
        "import": {"seconds": first.seconds, "peak_rss_mb": first.peak_rss_mb,
                   "summary": _last_json(first.stdout)},
        "reimport": {"seconds": again.seconds, "peak_rss_mb": again.peak_rss_mb,
                     "summary": _last_json(again.stdout)},
        "forced": {"seconds": forced.seconds, "peak_rss_mb": forced.peak_rss_mb,
                   "summary": _last_json(forced.stdout)},
    }


# --- report -----------------------------------------------------------------------------------

def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def sanity_problems(reps: Sequence[dict[str, Any]], source_rows: int) -> list[str]:
    """What would make the figures meaningless: wrong row counts, rejects, new rows on re-import."""
    problems = []
    for i, rep in enumerate(reps, 1):
        first = rep["import"]["summary"]
        again = rep.get("reimport", {}).get("summary", {"rows_read": 0})
        forced = rep.get("forced", {}).get("summary", {"rows_read": source_rows})
        if rep["baseline"]["rows"] != source_rows:
            problems.append(f"rep {i}: baseline copied {rep['baseline']['rows']:,} rows, not {source_rows:,}")
        if first.get("rows_read") != source_rows:
            problems.append(f"rep {i}: import read {first.get('rows_read')} rows, not {source_rows:,}")
        if first.get("rejected"):
            problems.append(f"rep {i}: import rejected {first['rejected']} rows of a clean file")
        if again.get("rows_read") != 0:
            problems.append(f"rep {i}: re-import read {again.get('rows_read')} rows, expected 0")
        if forced.get("rows_read") != source_rows or forced.get("new_events") or forced.get("new_calls"):
            problems.append(f"rep {i}: forced re-import was not all duplicates: {forced}")
    return problems


def summarize(reps: Sequence[dict[str, Any]], source_rows: int) -> dict[str, Any]:
    """Medians (min/max) of each figure; ratios are paired within a repetition, then medianed."""
    def rate(key: str) -> list[float]:
        return [source_rows / r[key]["seconds"] for r in reps]

    figures = {
        "baseline_seconds": _stats([r["baseline"]["seconds"] for r in reps]),
        "baseline_rows_per_s": _stats(rate("baseline")),
        "baseline_peak_rss_mb": _stats([r["baseline"]["peak_rss_mb"] for r in reps]),
        "import_seconds": _stats([r["import"]["seconds"] for r in reps]),
        "import_internal_seconds": _stats([float(r["import"]["summary"]["seconds"]) for r in reps]),
        "import_rows_per_s": _stats(rate("import")),
        "import_to_baseline": _stats([r["baseline"]["seconds"] / r["import"]["seconds"] for r in reps]),
        "import_peak_rss_mb": _stats([r["import"]["peak_rss_mb"] for r in reps]),
    }
    if "reimport" not in reps[0]:
        return figures
    return {
        **figures,
        "reimport_seconds": _stats([r["reimport"]["seconds"] for r in reps]),
        "reimport_speedup": _stats([r["import"]["seconds"] / r["reimport"]["seconds"] for r in reps]),
        "forced_seconds": _stats([r["forced"]["seconds"] for r in reps]),
        "forced_rows_per_s": _stats(rate("forced")),
        "forced_peak_rss_mb": _stats([r["forced"]["peak_rss_mb"] for r in reps]),
    }


def targets(fig: dict[str, Any], spec: Input) -> list[dict[str, Any]]:
    """Each target against the median - except peak RSS, a ceiling, checked against the max."""
    checks = [
        ("import peak RSS MB (max)", fig["import_peak_rss_mb"]["max"], "<=", TARGET_PEAK_RSS_MB,
         "{:,.0f} MB"),
    ]
    if spec.speed_targets:
        checks += [
            ("import rows/s (median)", fig["import_rows_per_s"]["median"], ">=", TARGET_ROWS_PER_S,
             "{:,.0f}"),
            ("import / COPY baseline rows/s (median)", fig["import_to_baseline"]["median"], ">=",
             TARGET_BASELINE_RATIO, "{:.2f}x"),
        ]
    if "reimport_speedup" in fig:
        checks.append(("re-import speedup (median)", fig["reimport_speedup"]["median"], ">=",
                       TARGET_REIMPORT_SPEEDUP, "{:.1f}x"))
    return [
        {"target": name, "value": value, "op": op, "limit": limit, "fmt": fmt,
         "pass": value >= limit if op == ">=" else value <= limit}
        for name, value, op, limit, fmt in checks
    ]


def print_report(fig: dict[str, Any], checks: list[dict[str, Any]], reps: Sequence[dict[str, Any]],
                 source_rows: int, problems: list[str], command: str) -> None:
    rows = [
        ("COPY baseline (raw -> jsonb): s", "baseline_seconds", "{:.2f}"),
        ("COPY baseline: rows/s", "baseline_rows_per_s", "{:,.0f}"),
        ("COPY baseline: peak RSS MB", "baseline_peak_rss_mb", "{:.0f}"),
        ("import (end to end): s", "import_seconds", "{:.2f}"),
        ("import: s inside the command", "import_internal_seconds", "{:.2f}"),
        ("import: rows/s", "import_rows_per_s", "{:,.0f}"),
        ("import / baseline rows/s", "import_to_baseline", "{:.2f}x"),
        ("import: peak RSS MB", "import_peak_rss_mb", "{:.0f}"),
        ("re-import (nothing new): s", "reimport_seconds", "{:.2f}"),
        ("re-import speedup (first / re-import)", "reimport_speedup", "{:.1f}x"),
        ("forced re-import (--force, all dup): s", "forced_seconds", "{:.2f}"),
        ("forced re-import: rows/s", "forced_rows_per_s", "{:,.0f}"),
        ("forced re-import: peak RSS MB", "forced_peak_rss_mb", "{:.0f}"),
    ]
    rows = [row for row in rows if row[1] in fig]
    width = max(len(label) for label, _, _ in rows)
    print(f"\n{'figure':<{width}}  {'median':>10}  {'min':>10}  {'max':>10}")
    for label, key, fmt in rows:
        cells = (fmt.format(fig[key][s]) for s in ("median", "min", "max"))
        print(f"{label:<{width}}  " + "  ".join(f"{c:>10}" for c in cells))
    first = reps[0]["import"]["summary"]
    print(f"\nfirst import summary (rep 1): rows_read={first.get('rows_read'):,} "
          f"new_calls={first.get('new_calls'):,} new_events={first.get('new_events'):,} "
          f"duplicates={first.get('duplicates'):,} rejected={first.get('rejected'):,}")
    print("\ntargets:")
    for c in checks:
        verdict = "PASS" if c["pass"] else "FAIL  <<<"
        limit = c["fmt"].format(c["limit"])
        print(f"  {c['target']:<40} {c['fmt'].format(c['value']):>10}  {c['op']} {limit:<8}  {verdict}")
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    print(f"\n{source_rows:,} source rows. Import rows/s = source rows / wall time of the whole "
          "command (process start to exit);\nbaseline rows/s = source rows / connect-to-commit time "
          "of the COPY (no interpreter start: the ratio is conservative).")
    print("reproduce: " + command)


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    """Every input: generate (or reuse) its file, run the repetitions, print and save figures."""
    print(f"== import_throughput ({'quick' if quick else 'full'}, {repeat} repetition(s)) ==")
    print("inputs have no malformed rows because the JSONB COPY baseline cannot ingest invalid JSON.")
    results = {}
    for spec in QUICK_INPUTS if quick else FULL_INPUTS:
        results[spec.name] = run_input(spec, quick=quick, repeat=min(repeat, spec.max_repeat or repeat))
    out = BENCH_DATA / ("results-import-quick.json" if quick else "results-import.json")
    out.write_text(json.dumps(results, indent=2) + "\n")  # a smoke run never overwrites real figures
    print(f"figures written to {out.relative_to(ROOT)}\n", flush=True)
    return results


def run_input(spec: Input, *, quick: bool, repeat: int) -> dict[str, Any]:
    path, source_rows = input_file(spec)
    print(f"\n-- {spec.name}: {path.relative_to(ROOT)} ({source_rows:,} APIlogs rows, "
          f"{path.stat().st_size / 2**20:,.0f} MiB), {repeat} repetition(s)", flush=True)
    reps = []
    for i in range(1, repeat + 1):
        rep = one_repetition(path, reimports=spec.reimports)
        reps.append(rep)
        extra = (f", re-import {rep['reimport']['seconds']:.2f} s, forced {rep['forced']['seconds']:.2f} s"
                 if "reimport" in rep else "")
        print(f"  rep {i}/{repeat}: baseline {rep['baseline']['seconds']:.2f} s, "
              f"import {rep['import']['seconds']:.2f} s ({rep['import']['peak_rss_mb']:.0f} MB){extra}",
              flush=True)
    fig = summarize(reps, source_rows)
    checks = targets(fig, spec)
    problems = sanity_problems(reps, source_rows)
    command = "cd " + str(ROOT) + " && .venv/bin/python -m benchmarks --only import_throughput" + (
        " --quick" if quick else "") + f" --repeat {repeat}"
    print_report(fig, checks, reps, source_rows, problems, command)
    return {
        "benchmark": "import_throughput", "input": spec.name, "kind": spec.kind,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick, "repeat": repeat, "calls": spec.calls, "seed": SEED,
        "source_rows": source_rows, "file": str(path.relative_to(ROOT)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "postgresql": _server_version(), "platform": platform.platform()},
        "figures": fig,
        "targets": [{k: v for k, v in c.items() if k != "fmt"} for c in checks],
        "sanity_problems": problems,
        "repetitions": reps,
        "command": command,
    }


def _baseline_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="COPY baseline child process")
    parser.add_argument("--copy-baseline", nargs=2, metavar=("FILE", "URL"), required=True)
    args = parser.parse_args(argv)
    file, url = args.copy_baseline
    print(json.dumps(copy_baseline(Path(file), url)))
    return 0


if __name__ == "__main__":
    sys.exit(_baseline_main(sys.argv[1:]))
