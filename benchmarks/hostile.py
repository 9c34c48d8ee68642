"""The hostile-input table (issue 18): every input class of ``tests/support/hostile/generate.py`` through
``asterisk-pipeline import-file``, as an operator runs it, at sizes CI does not afford.

Per class and database: the outcome (status / error_kind), rows read, kept (new events) and
rejected, whether the sync is recorded in ``sync_runs``, the peak RSS of the import process
(``os.wait4``'s rusage of that one child: its own high-water mark, nothing sampled) and whether
SPEC held (the same checks as ``tests/hostile``; the first broken one is printed). Full size: 20
bodies of 10 MB; ``--quick``: 4 of 2 MB. PostgreSQL (``ASTERISK_BENCH_PG_URL``) runs too when it
answers; each class gets a fresh database, dropped afterwards.

A class that breaks SPEC is printed as ``FAIL  <<<``; the exit code stays 0 (a benchmark is a
measurement). ``--repeat`` changes nothing: an outcome is not a median. Figures go to
``bench-data/results-hostile.json`` (``results-hostile-quick.json`` for ``--quick``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATA = ROOT / "bench-data"
GNU_TIME = Path("/usr/bin/time")
TIMEOUT_S = 900.0  # a FIFO opened for reading would block for ever: the import is killed then


@dataclass
class Row:
    input_class: str
    flow: str
    database: str
    outcome: str
    rows_read: int | None
    kept: int | None
    rejected: int | None
    recorded: bool
    peak_rss_mb: float
    seconds: float
    file_mb: float
    spec_ok: bool
    detail: str


@dataclass(frozen=True)
class Child:
    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float


def run_child(argv: list[str], env: dict[str, str]) -> Child:
    """Run one command, killed at the timeout; its own peak RSS.

    Through GNU time (``%M``) when present: the rusage of a child forked from this (large)
    process would start from this process's own high-water mark (Linux carries ``maxrss``
    across fork and exec), whereas ``time`` is small. Without it, ``wait4``'s figure is an
    upper bound.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", rss.name, *argv] if GNU_TIME.is_file() else argv
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=ROOT, env=env, stdout=out, stderr=err, text=True,
                                start_new_session=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > TIMEOUT_S:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: time and the import
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        peak_kib = float(usage.ru_maxrss)
        if GNU_TIME.is_file():
            figures = [line for line in rss.read().splitlines() if line.strip().isdigit()]
            peak_kib = float(figures[-1]) if figures else peak_kib
        out.seek(0)
        err.seek(0)
        return Child(proc.returncode, out.read(), err.read(), peak_kib / 1024, seconds)


def _cli() -> list[str]:
    return [sys.executable, "-m", "asterisk_pipeline.cli"]


def _env(url: str, home: Path) -> dict[str, str]:
    return {**os.environ, "ASTERISK_DATABASE_URL": url, "ASTERISK_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _postgres_answers() -> bool:
    import psycopg

    from benchmarks.import_throughput import ADMIN_URL

    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'central.db'}"
        return
    from benchmarks.import_throughput import fresh_database

    with fresh_database() as url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


def _file_mb(path: Path) -> float:
    try:
        if path.is_file():
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    except OSError:
        pass
    return 0.0


def measure(name: str, flow: str, kind: str, size: Any) -> Row:
    """One class on one database: build the file, prepare the warehouse, import, check."""
    from asterisk_pipeline.warehouse.db import make_engine
    from tests.support.hostile import warehouse as wh
    from tests.support.hostile.generate import build

    with tempfile.TemporaryDirectory(prefix=f"hostile-{name}-") as tmp_dir:
        tmp = Path(tmp_dir)
        made = build(name, flow, tmp / "pbx", size)
        with _database(kind, tmp) as url:
            env = _env(url, tmp / "home")
            for setup in (["db", "upgrade"], ["enterprise", "add", wh.ENTERPRISE.number, "--name", "VOS",
                                              "--host", wh.ENTERPRISE.host or "", "--secret",
                                              wh.ENTERPRISE.secret or ""]):
                done = subprocess.run([*_cli(), *setup], cwd=ROOT, env=env, capture_output=True,
                                      text=True, check=False)
                if done.returncode:
                    raise RuntimeError(f"{setup} failed: {done.stderr.strip()}")
            child = run_child([*_cli(), "import-file", str(made.path), "--enterprise", wh.ENTERPRISE.number,
                               "--flow", flow], env)
            engine = make_engine(url)
            try:
                return _judge(made, kind, child, engine, _file_mb(made.path))
            finally:
                engine.dispose()


def _judge(made: Any, kind: str, child: Child, engine: Any, file_mb: float) -> Row:
    """The same checks as tests/hostile/test_cli_hostile.py; the first that fails is the detail."""
    from tests.support.hostile import warehouse as wh

    summary: dict[str, Any] = {}
    recorded = bool(wh.runs(engine))
    detail = ""
    try:
        summary = wh.one_json_line(subprocess.CompletedProcess([], child.code, child.stdout, child.stderr))
        wh.check_recorded(engine, made, summary)
        now = wh.stored(engine, made.flow)
        wh.check_accounting(summary, now)
        wh.check_plausible(now)
        expected = made.expected
        if summary["status"] == "failed" and (expected.status == "failed" or expected.or_failed_with):
            kinds = expected.error_kinds if expected.status == "failed" else expected.or_failed_with
            assert summary.get("error_kind") in kinds, f"error_kind {summary.get('error_kind')} not in {sorted(kinds)}"
            wh.check_nothing_imported(now)
        else:
            assert summary["status"] == expected.status, f"status {summary['status']}, SPEC: {expected.status}"
            wh.check_rows(made, summary, now)
    except Exception as exc:  # noqa: BLE001 - any broken check is this row's verdict
        detail = _first_line(exc, child)
    outcome = summary.get("status", f"exit {child.code}, no summary")
    if summary.get("error_kind"):
        outcome += f"/{summary['error_kind']}"
    return Row(made.name, made.flow, kind, outcome, summary.get("rows_read"), summary.get("new_events"),
               summary.get("rejected"), recorded, round(child.peak_rss_mb, 1), round(child.seconds, 2),
               round(file_mb, 2), not detail, detail)


def _first_line(exc: Exception, child: Child) -> str:
    if "Traceback" in child.stderr:  # the import crashed: its last line says with what
        lines = [line for line in child.stderr.strip().splitlines() if line.strip()]
        return f"crashed: {lines[-1][:160]}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


def table(rows: list[Row]) -> str:
    head = ("class", "flow", "db", "outcome", "read", "kept", "rejected", "recorded", "peak RSS MB",
            "s", "file MB", "SPEC")
    body = [(r.input_class, r.flow, r.database, r.outcome, _n(r.rows_read), _n(r.kept), _n(r.rejected),
             "yes" if r.recorded else "NO", f"{r.peak_rss_mb:.0f}", f"{r.seconds:.1f}", f"{r.file_mb:.2f}",
             "ok" if r.spec_ok else "FAIL") for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(head, *body, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)) for line in (head, *body)]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def run(*, quick: bool, repeat: int) -> list[Row]:
    del repeat  # one import per class and database: an outcome is not a median
    if str(ROOT) not in sys.path:  # the generator and the checks live in the test package
        sys.path.insert(0, str(ROOT))
    from tests.support.hostile.generate import BENCH_SIZE, QUICK_SIZE, RUNS

    size = QUICK_SIZE if quick else BENCH_SIZE
    kinds = ["sqlite"] + (["postgresql"] if _postgres_answers() else [])
    print(f"== hostile: {len(RUNS)} input classes × {', '.join(kinds)}; big bodies "
          f"{size.huge_rows} × {size.huge_bytes / 1e6:.0f} MB, nesting {size.deep:,} ==", flush=True)
    if "postgresql" not in kinds:
        print("PostgreSQL does not answer: SQLite only", flush=True)
    rows: list[Row] = []
    for name, flow in RUNS:
        for kind in kinds:
            try:
                row = measure(name, flow, kind, size)
            except Exception as exc:  # noqa: BLE001 - a class that cannot even run is a row
                row = Row(name, flow, kind, "bench error", None, None, None, False, 0.0, 0.0, 0.0,
                          False, f"{type(exc).__name__}: {exc}"[:200])
            rows.append(row)
            print(f"  {name}/{flow}/{kind}: {row.outcome}, peak {row.peak_rss_mb:.0f} MB"
                  + ("" if row.spec_ok else f"  — {row.detail}"), flush=True)
    print(table(rows), flush=True)
    for row in rows:
        if not row.spec_ok:
            print(f"FAIL  <<< {row.input_class}/{row.flow}/{row.database}: {row.detail}", flush=True)
    BENCH_DATA.mkdir(exist_ok=True)
    out = BENCH_DATA / ("results-hostile-quick.json" if quick else "results-hostile.json")
    out.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    print(f"figures written to {out.relative_to(ROOT)}", flush=True)
    return rows
