"""Sidecar latency with 1,000,000 calls in PostgreSQL, at 200 requests/s from a load generator.

The warehouse: 75 enterprises, 1 M calls over a year (10 % live), 200 k sync_runs rows, one
download_sync row per PBX — written with generate_series, then VACUUM ANALYZE (what
autovacuum keeps true on a production server). The stack: ``asterisk-pipeline serve`` (uvicorn)
and a real ``dagster dev`` for the running-syncs part of /sync/status. Each endpoint gets 15 s
of open-loop load at 200 req/s from ``benchmarks.loadgen`` in its own process; latency counts
from the scheduled send time. Target: p99 ≤ 50 ms for /health, /sync/live/status, /sync/status.

Baseline (same run): the uncached queries behind /sync/live/status, timed directly in the
database — what every request would cost without the change-marker cache. A second pass of
/sync/live/status runs while a writer commits a sync_runs row every second (the cache is
invalidated ~15 times during the pass), to show the cost of recomputation under churn.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.dagster_dev

from benchmarks.import_throughput import BENCH_DATA, fresh_database

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))
RESULTS = BENCH_DATA / "results-api-latency.json"
ENDPOINTS = ("/health", "/sync/live/status", "/sync/status")
TARGET_P99_MS = 50.0

_FILL = [
    ("INSERT INTO enterprises (number, name, host, secret, ip, is_enabled, active, name2)"
     " SELECT lpad(n::text, 4, '0'), 'ent ' || n, 'pbx' || n || '.lan', 'secret-' || n,"
     " '10.88.' || (n / 250) || '.' || (n % 250), true, true, (375000000 + n)::text"
     " FROM generate_series(1000, 1000 + :enterprises - 1) n"),
    ("INSERT INTO calls (unique_id, enterprise_id, token, start_time, end_time, duration, phone_number,"
     " extensions_count, call_type, call_status, is_answered, data_source, asterisk_host)"
     " SELECT 'u' || i, lpad((1000 + i % :enterprises)::text, 4, '0'), 't',"
     " now() - (i % 525600) * interval '1 minute', now() - (i % 525600) * interval '1 minute'"
     " + interval '90 seconds', 90, '+37529' || (1000000 + i % 9000000), 1, (i % 3)::text,"
     " CASE WHEN i % 3 = 0 THEN '2' ELSE '0' END, i % 3 = 0,"
     " CASE WHEN i % 10 = 0 THEN 'live' ELSE 'downloaded' END, 'pbx.lan'"
     " FROM generate_series(1, :calls) i"),
    ("INSERT INTO sync_runs (enterprise_id, asterisk_host, flow, file_date, source_table, started_at,"
     " finished_at, rows_read, duration_s, status)"
     " SELECT lpad((1000 + i % :enterprises)::text, 4, '0'), 'pbx.lan',"
     " CASE WHEN i % 20 = 0 THEN 'history' ELSE 'live' END, current_date - (i / 20000),"
     " 'AlternativeAPIlogs', now() - (:runs - i) * interval '2 seconds',"
     " now() - (:runs - i) * interval '2 seconds' + interval '1 second', 20, 1.0,"
     " CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'success' END FROM generate_series(1, :runs) i"),
    ("INSERT INTO download_sync (enterprise_id, asterisk_host, last_check_timestamp,"
     " last_successful_sync, total_downloaded_events, failed_events_count, updated_at)"
     " SELECT number, 'pbx.lan', now(), now(), 100000, 3, now() FROM enterprises"),
]
_BASELINE = (
    "SELECT data_source, count(*), min(start_time), max(start_time) FROM calls GROUP BY data_source",
    "SELECT enterprise_id, data_source, count(*) FROM calls GROUP BY enterprise_id, data_source",
)


def _fill(url: str, calls: int, enterprises: int, runs: int) -> float:
    started = time.perf_counter()
    engine = create_engine(url)
    with engine.begin() as conn:
        for sql in _FILL:
            conn.execute(text(sql), {"calls": calls, "enterprises": enterprises, "runs": runs})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def _baseline_ms(url: str, repeat: int = 5) -> float:
    engine = create_engine(url)
    times = []
    with engine.connect() as conn:
        for _ in range(repeat):
            began = time.perf_counter()
            for sql in _BASELINE:
                conn.execute(text(sql)).all()
            times.append(1000 * (time.perf_counter() - began))
    engine.dispose()
    return statistics.median(times)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _load(url: str, seconds: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.loadgen", url, "--rate", "200",
                           "--seconds", str(seconds)], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _churn_into(out: list[int], url: str, stop: threading.Event) -> None:
    out.append(_churn(url, stop))


def _churn(url: str, stop: threading.Event) -> int:
    """Commit one sync_runs row a second (what a busy live cycle does to the change marker)."""
    engine = create_engine(url)
    written = 0
    while not stop.wait(1.0):
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO sync_runs (enterprise_id, flow, started_at, finished_at, duration_s, status)"
                " VALUES ('1000', 'live', now(), now(), 0.1, 'success')"))
        written += 1
    engine.dispose()
    return written


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    from tests.support.dagster_dev import dagster_dev, free_port, wait_until

    calls, enterprises, runs, seconds = (100_000, 75, 20_000, 5.0) if quick else (1_000_000, 75, 200_000, 15.0)
    print(f"\n== api_latency ({'quick' if quick else 'full'}: {calls:,} calls, {enterprises} enterprises, "
          f"{runs:,} sync_runs; 200 req/s × {seconds:.0f} s per endpoint; {repeat} repetition(s)) ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, fresh_database() as url:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
        env.update(ASTERISK_HOME=str(work / "home"), ASTERISK_DATABASE_URL=url, ASTERISK_TRANSPORT="local",
                   ASTERISK_LOCAL_LOGS_DIR=str(work / "logs"), ASTERISK_LIVE_SCHEDULE="off")
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        fill_s = _fill(url, calls, enterprises, runs)
        baseline = _baseline_ms(url)
        print(f"  filled in {fill_s:.0f} s; uncached /sync/live/status queries: {baseline:.0f} ms (median of 5)",
              flush=True)
        with dagster_dev(env, work / "dagster", log=work / "dagster.log") as dagster_url:
            port = free_port()
            with open(work / "serve.log", "ab") as out:
                server = subprocess.Popen([CLI, "serve", "--port", str(port), "--dagster-url", dagster_url],
                                          env=env, stdout=out, stderr=subprocess.STDOUT)
            api = f"http://127.0.0.1:{port}"
            try:
                wait_until(lambda: _answers(f"{api}/"), 60, "the sidecar")
                reps: list[dict[str, Any]] = []
                for rep in range(repeat):
                    figures = {path: _load(f"{api}{path}", seconds) for path in ENDPOINTS}
                    stop = threading.Event()
                    written: list[int] = []
                    writer = threading.Thread(target=_churn_into, args=(written, url, stop))
                    writer.start()
                    figures["/sync/live/status (churn)"] = _load(f"{api}/sync/live/status", seconds)
                    stop.set()
                    writer.join()
                    figures["/sync/live/status (churn)"]["commits_during_pass"] = written[0]
                    reps.append(figures)
                    for name, f in figures.items():
                        print(f"  rep {rep + 1}/{repeat} {name:28s} p50 {f['p50_ms']:7.2f} ms  p99 {f['p99_ms']:7.2f} ms"
                              f"  max {f['max_ms']:7.1f} ms  {f['achieved_rate']:.0f} req/s  {f['statuses']}",
                              flush=True)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=20)
    names = list(reps[0])
    summary = {name: {"p50_ms": statistics.median(r[name]["p50_ms"] for r in reps),
                      "p99_ms": statistics.median(r[name]["p99_ms"] for r in reps)} for name in names}
    print()
    for name in names:
        p99 = summary[name]["p99_ms"]
        verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL  <<<"
        target = f"target p99 <= {TARGET_P99_MS:.0f} ms   {verdict}" if name in ENDPOINTS else "(churn: informational)"
        print(f"  {name:28s} p50 {summary[name]['p50_ms']:7.2f} ms   p99 {p99:7.2f} ms   {target}")
    status_p50 = summary["/sync/live/status"]["p50_ms"]
    print(f"  baseline: the uncached queries take {baseline:.0f} ms = {baseline / status_p50:.0f}× the cached "
          f"endpoint's p50")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only api_latency"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    result = {"calls": calls, "enterprises": enterprises, "sync_runs": runs, "baseline_uncached_ms": baseline,
              "summary": summary, "repetitions": reps}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(json.dumps(result, indent=2))
    return result
