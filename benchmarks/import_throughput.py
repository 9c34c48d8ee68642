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

After the import, (3) the **output floor**: a child process COPYs the import's own final rows
(every table it filled) with no Python work into a second fresh database with the same schema and
indexes - what the import's output costs PostgreSQL, so the figures say how close the import is to
it. Beside the wall figures, client and PostgreSQL CPU per source row (the child's own CPU; the
CPU of the server backends serving that database, sampled with psutil).

Every side runs as a child process, so each one's peak RSS is its own and nothing stays warm in
this process. The file uses ``dirty_share=0.0``: the JSONB baseline cannot ingest invalid JSON.
``ASTERISK_BENCH_IMPORT_INPUTS`` (e.g. ``reference``) selects inputs by key.

Run it through ``python -m benchmarks``; ``python -m benchmarks.import_throughput --copy-baseline
FILE URL`` and ``--copy-floor SRC_URL DST_URL TABLE...`` are the child processes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self
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
CHUNK_ROWS = 20_000  # the baseline of ../shared/bench/README.md (the pipeline reads 10,000 by default: memory)
ADMIN_URL = os.environ.get("ASTERISK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
GNU_TIME = Path("/usr/bin/time")

INPUTS_ENV = "ASTERISK_BENCH_IMPORT_INPUTS"  # comma-separated Input keys; unset = every input
SAMPLE_SECONDS = 0.05  # how often the PostgreSQL backends' CPU (and, without GNU time, RSS) is read

TARGET_ROWS_PER_S = 35_000.0  # on the reference file
TARGET_BASELINE_RATIO = 0.5  # issue 21 "The import at its floor"
TARGET_FLOOR_RATIO = 0.8  # import rows/s / output floor rows/s
TARGET_PEAK_RSS_MB = 250.0  # at 200,000 and at 600,000 calls
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
    key: str = ""  # its name in ASTERISK_BENCH_IMPORT_INPUTS


FULL_INPUTS = (
    Input("reference 200,000 calls", "reference", 200_000, True, True, key="reference"),
    Input("simulator day, conversation shapes", "simulator", FULL_CALLS, False, False,
          key="simulator"),
    Input("reference 600,000 calls", "reference", 600_000, False, False, max_repeat=1,
          key="reference-600k"),
)
QUICK_INPUTS = (
    Input("reference 20,000 calls (quick)", "reference", 20_000, True, True, key="reference"),
    Input("simulator day (quick)", "simulator", QUICK_CALLS, False, False, key="simulator"),
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
    """One child process: wall time measured here, its peak RSS, its CPU, and what it printed.

    ``cpu_seconds`` is user+sys of the child and the children it waited for; ``server_cpu_seconds``
    the CPU of the PostgreSQL backends serving the watched database while it ran (else None).
    """

    seconds: float
    peak_rss_mb: float
    stdout: str
    cpu_seconds: float
    server_cpu_seconds: float | None = None


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


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def select_inputs(inputs: Sequence[Input], wanted: str | None) -> tuple[Input, ...]:
    """The inputs named in ``ASTERISK_BENCH_IMPORT_INPUTS`` (all when unset or empty)."""
    keys = [k.strip() for k in (wanted or "").split(",") if k.strip()]
    unknown = set(keys) - {spec.key for spec in inputs}
    if unknown:
        raise SystemExit(f"{INPUTS_ENV}: unknown input(s) {sorted(unknown)}; "
                         f"known: {[spec.key for spec in inputs]}")
    return tuple(spec for spec in inputs if not keys or spec.key in keys)


_LOCAL_HOSTS = (None, "", "localhost", "127.0.0.1", "::1")  # None: the Unix socket


class BackendCpu:
    """CPU of the PostgreSQL backends connected to one database, while a child process runs.

    Why sampled: a backend's CPU is only readable while it lives, and every repetition has its
    own database, so the backends found in ``pg_stat_activity`` for it are exactly the child's.
    Read every ``SAMPLE_SECONDS`` with psutil (the server is local): a lower bound, short by at
    most the last interval of each backend. Autovacuum is not counted (it runs on its own time).
    None when the backends cannot be read (a remote server, no permission, not PostgreSQL's).
    """

    def __init__(self, database: str) -> None:
        self._database = database
        self._cpu: dict[int, float] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._readable = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-cpu", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float | None:
        return sum(self._cpu.values()) if self._readable else None

    def _run(self) -> None:
        if urlsplit(ADMIN_URL).hostname not in _LOCAL_HOSTS:
            self._readable = False  # a remote server's pids are not this machine's processes
            return
        admin = _url_for(_database_of(ADMIN_URL) or "postgres")
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                while self._readable:
                    stopping = self._stop.is_set()
                    self._sample(conn)
                    if stopping:
                        return
                    self._stop.wait(SAMPLE_SECONDS)
        except psycopg.Error:
            self._readable = False  # a figure from half a run would mislead

    def _sample(self, conn: psycopg.Connection[Any]) -> None:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            " AND backend_type IN ('client backend', 'parallel worker')", (self._database,))]
        for pid in pids:
            try:
                proc = self._procs.get(pid) or self._backend(pid)
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            except psutil.Error:
                self._readable = False
                return
            self._cpu[pid] = max(self._cpu.get(pid, 0.0), times.user + times.system)

    def _backend(self, pid: int) -> psutil.Process:
        """The local process of that pid, which must be a PostgreSQL one (another pid namespace,
        e.g. a server in a container, would give an unrelated process)."""
        proc = psutil.Process(pid)
        if "postgres" not in proc.name():
            raise psutil.AccessDenied(pid, proc.name(), "not a PostgreSQL backend")
        self._procs[pid] = proc
        return proc


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


def run_measured(argv: Sequence[str], watch_database: str | None = None) -> Measured:
    """Run one command; wall time from spawn to exit; peak RSS and CPU via GNU time, else psutil
    polls and ``wait4``; with ``watch_database``, also the CPU of its PostgreSQL backends."""
    if watch_database is None:
        return _run_child(argv)
    with BackendCpu(watch_database) as server:
        measured = _run_child(argv)
    return Measured(measured.seconds, measured.peak_rss_mb, measured.stdout, measured.cpu_seconds,
                    server.seconds)


def _run_child(argv: Sequence[str]) -> Measured:
    if not GNU_TIME.is_file():
        return _run_polled(argv)
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        started = time.perf_counter()
        done = subprocess.run(
            [str(GNU_TIME), "-f", "%M %U %S", "-o", rss.name, *argv], cwd=ROOT, env=_child_env(),
            capture_output=True, text=True, check=False,
        )
        seconds = time.perf_counter() - started
        _check(argv, done.returncode, done.stdout, done.stderr)
        peak_kb, user, system = (float(v) for v in rss.read().strip().splitlines()[-1].split())
    return Measured(seconds, peak_kb / 1024, done.stdout, user + system)


def _run_polled(argv: Sequence[str]) -> Measured:
    """Fallback without GNU time: sample the RSS of the child (and its children) every 50 ms;
    its CPU from ``wait4`` (ru_maxrss there is not used: Linux carries the parent's over exec).

    Output goes to temporary files, so a chatty child can never block on a full pipe.
    """
    peak = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=ROOT, env=_child_env(), stdout=out, stderr=err,
                                text=True)
        watched = psutil.Process(proc.pid)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                procs = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        _check(argv, proc.returncode, stdout, err.read())
    return Measured(seconds, peak / 2**20, stdout, usage.ru_utime + usage.ru_stime)


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

def own_cpu() -> float:
    """User+sys of this process, every thread: the CPU of a child's timed section."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def copy_baseline(path: Path, url: str) -> dict[str, Any]:
    """Read APIlogs in keyset chunks and COPY the raw rows into ``raw_rows``: connect to commit."""
    started = time.perf_counter()
    cpu = own_cpu()
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
    return {"rows": rows, "seconds": time.perf_counter() - started, "cpu_seconds": own_cpu() - cpu}


# --- the output floor (child process) ---------------------------------------------------------

def copy_floor(src_url: str, dst_url: str, tables: Sequence[str]) -> dict[str, Any]:
    """COPY every given table (parents first) from the imported database into the fresh one,
    binary as the import writes, block by block with no row parsing: connect to commit."""
    started = time.perf_counter()
    cpu = own_cpu()
    rows, seconds = {}, {}
    with psycopg.connect(src_url) as src, psycopg.connect(dst_url) as dst:
        for table in tables:
            table_started = time.perf_counter()
            rows[table] = _copy_table(src, dst, table)
            seconds[table] = time.perf_counter() - table_started
        commit_started = time.perf_counter()
        dst.commit()
        seconds["(commit)"] = time.perf_counter() - commit_started
    return {"rows": rows, "seconds": time.perf_counter() - started, "cpu_seconds": own_cpu() - cpu,
            "table_seconds": seconds}


def _copy_table(src: psycopg.Connection[Any], dst: psycopg.Connection[Any], table: str) -> int:
    name = sql.Identifier(table)
    with src.cursor() as out_cur, dst.cursor() as in_cur:
        with out_cur.copy(sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(name)) as out, \
                in_cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(name)) as into:
            for block in out:
                into.write(block)
        return in_cur.rowcount


def floor_tables(src_url: str, dst_url: str) -> list[str]:
    """The tables the import filled: non-empty in the imported database, empty in the fresh one
    after the same setup (``db upgrade``, ``enterprise add``), in foreign-key order."""
    from asterisk_pipeline.warehouse.schema import metadata  # the schema ``db upgrade`` built

    def filled(conn: psycopg.Connection[Any], table: str) -> bool:
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        return bool(row and row[0])

    with psycopg.connect(src_url) as src, psycopg.connect(dst_url) as dst:
        return [t.name for t in metadata.sorted_tables
                if filled(src, t.name) and not filled(dst, t.name)]


def output_floor(url: str, cli: Sequence[str]) -> dict[str, Any]:
    """The import's own final rows COPYed into a second fresh database with the same schema."""
    with fresh_database() as floor_url:
        run_measured([*cli, "db", "upgrade", "--db", floor_url])
        run_measured([*cli, "enterprise", "add", ENTERPRISE, "--host", "vos.lan", "--secret", "s",
                      "--db", floor_url])
        tables = floor_tables(url, floor_url)
        floor = run_measured([sys.executable, "-m", "benchmarks.import_throughput", "--copy-floor",
                              url, floor_url, *tables], watch_database=_database_of(floor_url))
    out = _last_json(floor.stdout)
    return {"seconds": out["seconds"], "rows": out["rows"], "table_seconds": out["table_seconds"],
            "cpu_seconds": out["cpu_seconds"],
            "server_cpu_seconds": floor.server_cpu_seconds, "process_seconds": floor.seconds,
            "peak_rss_mb": floor.peak_rss_mb}


# --- one repetition ---------------------------------------------------------------------------

def one_repetition(path: Path, reimports: bool = True,
                   inspect: Callable[[str], object] | None = None,
                   floor: bool = True) -> dict[str, Any]:
    """Baseline, import, output floor (and re-import and forced re-import), all on one fresh
    database; ``inspect(url)`` looks at the imported warehouse before it is dropped
    (shapes_busy_day)."""
    cli = _cli()
    with fresh_database() as url:
        database = _database_of(url)
        run_measured([*cli, "db", "upgrade", "--db", url])
        run_measured([*cli, "enterprise", "add", ENTERPRISE, "--host", "vos.lan", "--secret", "s",
                      "--db", url])
        with psycopg.connect(url) as conn:
            conn.execute(_RAW_DDL)
        base = run_measured([sys.executable, "-m", "benchmarks.import_throughput",
                             "--copy-baseline", str(path), url], watch_database=database)
        base_out = _last_json(base.stdout)
        imp_cmd = [*cli, "import-file", str(path), "--enterprise", ENTERPRISE, "--flow", "history",
                   "--db", url]
        first = run_measured(imp_cmd, watch_database=database)
        rep: dict[str, Any] = {
            "baseline": {"seconds": base_out["seconds"], "rows": base_out["rows"],
                         "cpu_seconds": base_out["cpu_seconds"],
                         "server_cpu_seconds": base.server_cpu_seconds,
                         "process_seconds": base.seconds, "peak_rss_mb": base.peak_rss_mb},
            "import": {"seconds": first.seconds, "peak_rss_mb": first.peak_rss_mb,
                       "cpu_seconds": first.cpu_seconds,
                       "server_cpu_seconds": first.server_cpu_seconds,
                       "summary": _last_json(first.stdout)},
        }
        if inspect is not None:
            inspect(url)
        if floor:
            rep["floor"] = output_floor(url, cli)
        if not reimports:
            return rep
        again = run_measured(imp_cmd)
        forced = run_measured([*imp_cmd, "--force"])
    return {
        **rep,
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
    """Medians (min/max) of each figure; ratios are paired within a repetition, then medianed.
    Every per-row figure is per *source* row, the output floor's too."""
    def rate(key: str) -> list[float]:
        return [source_rows / r[key]["seconds"] for r in reps]

    figures = {
        "baseline_seconds": _stats([r["baseline"]["seconds"] for r in reps]),
        "baseline_rows_per_s": _stats(rate("baseline")),
        **_per_row(reps, "baseline", source_rows),
        "baseline_peak_rss_mb": _stats([r["baseline"]["peak_rss_mb"] for r in reps]),
        "import_seconds": _stats([r["import"]["seconds"] for r in reps]),
        "import_internal_seconds": _stats([float(r["import"]["summary"]["seconds"]) for r in reps]),
        "import_rows_per_s": _stats(rate("import")),
        **_per_row(reps, "import", source_rows),
        "import_to_baseline": _stats([r["baseline"]["seconds"] / r["import"]["seconds"] for r in reps]),
        "import_peak_rss_mb": _stats([r["import"]["peak_rss_mb"] for r in reps]),
    }
    if "floor" in reps[0]:
        figures |= {
            "floor_seconds": _stats([r["floor"]["seconds"] for r in reps]),
            "floor_rows_per_s": _stats(rate("floor")),
            **_per_row(reps, "floor", source_rows),
            "floor_to_baseline": _stats([r["baseline"]["seconds"] / r["floor"]["seconds"] for r in reps]),
            "import_to_floor": _stats([r["floor"]["seconds"] / r["import"]["seconds"] for r in reps]),
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


def _per_row(reps: Sequence[dict[str, Any]], side: str, source_rows: int) -> dict[str, Any]:
    """Wall, client CPU and PostgreSQL CPU of one side in µs per source row (PostgreSQL's left
    out when its backends could not be read)."""
    def us(key: str) -> list[float] | None:
        values = [r[side].get(key) for r in reps]
        return None if None in values else [v * 1e6 / source_rows for v in values]

    figures = {f"{side}_{name}_us_per_row": us(key)
               for name, key in (("wall", "seconds"), ("client_cpu", "cpu_seconds"),
                                 ("pg_cpu", "server_cpu_seconds"))}
    return {name: _stats(values) for name, values in figures.items() if values is not None}


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
        if "import_to_floor" in fig:
            checks.append(("import / output floor rows/s (median)", fig["import_to_floor"]["median"],
                           ">=", TARGET_FLOOR_RATIO, "{:.2f}x"))
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
        *_per_row_lines("COPY baseline", "baseline"),
        ("COPY baseline: peak RSS MB", "baseline_peak_rss_mb", "{:.0f}"),
        ("import (end to end): s", "import_seconds", "{:.2f}"),
        ("import: s inside the command", "import_internal_seconds", "{:.2f}"),
        ("import: rows/s", "import_rows_per_s", "{:,.0f}"),
        *_per_row_lines("import", "import"),
        ("import / baseline rows/s", "import_to_baseline", "{:.2f}x"),
        ("import: peak RSS MB", "import_peak_rss_mb", "{:.0f}"),
        ("output floor (COPY of the import's rows): s", "floor_seconds", "{:.2f}"),
        ("output floor: source rows/s", "floor_rows_per_s", "{:,.0f}"),
        *_per_row_lines("output floor", "floor"),
        ("output floor / baseline rows/s", "floor_to_baseline", "{:.2f}x"),
        ("import / output floor rows/s", "import_to_floor", "{:.2f}x"),
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
    if "floor" in reps[0]:
        copied, took = reps[0]["floor"]["rows"], reps[0]["floor"]["table_seconds"]
        print(f"output floor rows copied (rep 1): {sum(copied.values()):,} = "
              + ", ".join(f"{table} {n:,} ({took[table]:.2f} s)" for table, n in copied.items())
              + f", commit {took['(commit)']:.2f} s")
    print("\ntargets:")
    for c in checks:
        verdict = "PASS" if c["pass"] else "FAIL  <<<"
        limit = c["fmt"].format(c["limit"])
        print(f"  {c['target']:<40} {c['fmt'].format(c['value']):>10}  {c['op']} {limit:<8}  {verdict}")
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    print(f"\n{source_rows:,} source rows. Import rows/s = source rows / wall time of the whole "
          "command (process start to exit);\nbaseline rows/s = source rows / connect-to-commit time "
          "of the COPY (no interpreter start: the ratio is conservative);\noutput floor = a child "
          "COPYing the import's final rows (binary, no Python work per row) into a fresh database "
          "with the\nsame schema and indexes, connect to commit, in source rows/s. µs/row are per "
          "source row: wall; client CPU = the\nchild's user+sys (the COPYs: their timed section; "
          "the import: the whole process); PostgreSQL CPU = the backends serving\nthat database "
          f"(sampled every {SAMPLE_SECONDS * 1000:.0f} ms, a lower bound; autovacuum not counted).")
    print("reproduce: " + command)


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    """Every input: generate (or reuse) its file, run the repetitions, print and save figures."""
    print(f"== import_throughput ({'quick' if quick else 'full'}, {repeat} repetition(s)) ==")
    print("inputs have no malformed rows because the JSONB COPY baseline cannot ingest invalid JSON.")
    results = {}
    for spec in select_inputs(QUICK_INPUTS if quick else FULL_INPUTS, os.environ.get(INPUTS_ENV)):
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
        floor = f", output floor {rep['floor']['seconds']:.2f} s" if "floor" in rep else ""
        print(f"  rep {i}/{repeat}: baseline {rep['baseline']['seconds']:.2f} s, "
              f"import {rep['import']['seconds']:.2f} s ({rep['import']['peak_rss_mb']:.0f} MB)"
              f"{floor}{extra}", flush=True)
    fig = summarize(reps, source_rows)
    checks = targets(fig, spec)
    problems = sanity_problems(reps, source_rows)
    selected = os.environ.get(INPUTS_ENV, "").strip()
    command = "cd " + str(ROOT) + " && " + (f"{INPUTS_ENV}={selected} " if selected else "") + (
        ".venv/bin/python -m benchmarks --only import_throughput") + (
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


def _per_row_lines(label: str, side: str) -> list[tuple[str, str, str]]:
    return [(f"{label}: {what} µs/row", f"{side}_{key}_us_per_row", "{:.1f}")
            for what, key in (("wall", "wall"), ("client CPU", "client_cpu"),
                              ("PostgreSQL CPU", "pg_cpu"))]


def _child_main(argv: Sequence[str]) -> int:
    """The COPY children: the baseline (``--copy-baseline``) and the output floor (``--copy-floor``)."""
    parser = argparse.ArgumentParser(description="COPY child processes of import_throughput")
    side = parser.add_mutually_exclusive_group(required=True)
    side.add_argument("--copy-baseline", nargs=2, metavar=("FILE", "URL"))
    side.add_argument("--copy-floor", nargs="+", metavar="SRC_URL DST_URL TABLE")
    args = parser.parse_args(argv)
    if args.copy_baseline:
        file, url = args.copy_baseline
        print(json.dumps(copy_baseline(Path(file), url)))
        return 0
    if len(args.copy_floor) < 2:
        parser.error("--copy-floor needs SRC_URL DST_URL [TABLE...]")
    src_url, dst_url, *tables = args.copy_floor
    print(json.dumps(copy_floor(src_url, dst_url, tables)))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
