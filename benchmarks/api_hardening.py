"""/health latency of the sidecar while it is attacked or its Dagster webserver hangs.

One ``asterisk-pipeline serve`` (uvicorn, PostgreSQL warehouse, five enterprises, descriptor
limit = the systemd unit's LimitNOFILE) is probed with ``GET /health`` every 20 ms for a window
under each load, one after the other:

- **idle** — nothing else: the same-run baseline the other rows are divided by;
- **50 MB body in flight** — a client posting 50 MB JSON arrays back to back (Content-Length
  and chunked in turn), each refused with 413;
- **hung Dagster + 50 POSTs** — the process at ASTERISK_DAGSTER_URL (``tests.support.standin``, a
  real HTTP server) stopped with SIGSTOP, 50 clients POSTing syncs in a loop;
- **200 trickling connections** — 200 clients sending their headers a byte every 100 ms (each
  reconnects when the server drops it after ASTERISK_API_CLIENT_TIMEOUT_S).

Target (issue 18): /health p99 under 1 s under every load. Run: ``python -m benchmarks --only
api_hardening [--quick]`` (quick: 3-s windows instead of 15 s).
"""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.dagster_dev, tests.support.standin

from benchmarks.import_throughput import BENCH_DATA, fresh_database
from benchmarks.loadgen import percentile

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))
RESULTS = BENCH_DATA / "results-api-hardening.json"
TARGET_P99_MS = 1000.0
UNIT_NOFILE = 65536  # deploy/systemd/asterisk-pipeline-sidecar.service: LimitNOFILE
CLIENT_TIMEOUT_S = 2.0  # short, so trickling clients are dropped (and reconnect) within a window
FIFTY_MB = 50 * 1024 * 1024
ENTERPRISES = ("0100", "0200", "0201", "0327", "0367")


def _probe(api: str, seconds: float) -> dict[str, Any]:
    """GET /health every 20 ms for ``seconds``: latency percentiles and status counts."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=30) as http:
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                key = str(http.get(f"{api}/health").status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - began)
            statuses[key] = statuses.get(key, 0) + 1
            time.sleep(max(0.0, 0.02 - (time.perf_counter() - began)))
    ordered = sorted(latencies)
    return {"requests": len(ordered), "statuses": statuses,
            "p50_ms": round(1000 * percentile(ordered, 0.50), 2),
            "p99_ms": round(1000 * percentile(ordered, 0.99), 2),
            "max_ms": round(1000 * ordered[-1], 2)}


def _big_bodies(port: int, stop: threading.Event, counts: dict[str, int]) -> None:
    piece = b"[" + b"1," * 4095 + b"1]"
    chunked = False
    while not stop.is_set():
        chunked = not chunked
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % FIFTY_MB
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"POST /sync/0327 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"%s\r\n\r\n" % framing)
                sent = 0
                while sent < FIFTY_MB and not stop.is_set():
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    sent += len(piece)
                if sent >= FIFTY_MB:  # never expected: the server refuses after 64 KiB
                    counts["sent_whole"] = counts.get("sent_whole", 0) + 1
        except OSError:
            counts["refused"] = counts.get("refused", 0) + 1  # 413 and closed mid-body


def _posts(api: str, stop: threading.Event, counts: dict[str, int]) -> None:
    with httpx.Client(timeout=60) as http:
        index = 0
        while not stop.is_set():
            number = ENTERPRISES[index % len(ENTERPRISES)]
            index += 1
            try:
                code = http.post(f"{api}/sync/live/{number}").status_code
                counts[str(code)] = counts.get(str(code), 0) + 1
            except httpx.HTTPError as exc:
                counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1


def _trickle(port: int, stop: threading.Event, counts: dict[str, int]) -> None:
    header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                for byte in range(len(header)):
                    if stop.wait(0.1):
                        return
                    sock.sendall(header[byte:byte + 1])
        except OSError:
            counts["dropped_by_server"] = counts.get("dropped_by_server", 0) + 1


def _under(load: Callable[[threading.Event, dict[str, int]], None], clients: int, api: str,
           seconds: float, release: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """/health figures while ``clients`` threads run ``load``; then ``release`` and a join, so
    no load leaks into the next row."""
    stop = threading.Event()
    counts: dict[str, int] = {}
    threads = [threading.Thread(target=load, args=(stop, counts), daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(min(1.0, seconds / 3))  # the load is on before probing
    try:
        figures = _probe(api, seconds)
    finally:
        stop.set()
        release()
        for thread in threads:
            thread.join(timeout=90)
    figures["load_threads"] = clients
    figures["load"] = counts
    return figures


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    from tests.support.dagster_dev import free_port, wait_until
    from tests.support.standin import html_server

    seconds = 3.0 if quick else 15.0
    print(f"\n== api_hardening ({'quick' if quick else 'full'}: /health every 20 ms for {seconds:.0f} s per load; "
          f"{repeat} repetition(s)) ==", flush=True)
    reps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hard-") as tmp, fresh_database() as url, \
            html_server() as (dagster, standin):
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
        env.update(ASTERISK_HOME=str(work / "home"), ASTERISK_DATABASE_URL=url, ASTERISK_TRANSPORT="local",
                   ASTERISK_LOCAL_LOGS_DIR=str(work / "logs"), ASTERISK_API_CLIENT_TIMEOUT_S=str(CLIENT_TIMEOUT_S))
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        for number in ENTERPRISES:
            subprocess.run([CLI, "enterprise", "add", number, "--name", f"ent {number}", "--host",
                            f"pbx{number}.lan"], env=env, check=True, capture_output=True)
        _recent_live_syncs(url)
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        with open(work / "serve.log", "ab") as out:
            server = subprocess.Popen([CLI, "serve", "--port", str(port), "--dagster-url", dagster],
                                      env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: server.poll() is not None or _answers(f"{api}/"), 60, "the sidecar")
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            nofile = UNIT_NOFILE if hard == resource.RLIM_INFINITY else min(UNIT_NOFILE, hard)
            psutil.Process(server.pid).rlimit(psutil.RLIMIT_NOFILE, (nofile, hard))
            for rep in range(repeat):
                figures: dict[str, dict[str, Any]] = {}
                figures["idle"] = _under(lambda stop, counts: None, 0, api, seconds)
                figures["50 MB body in flight"] = _under(
                    lambda stop, counts: _big_bodies(port, stop, counts), 1, api, seconds)
                standin.send_signal(signal.SIGSTOP)
                figures["hung Dagster + 50 POSTs"] = _under(
                    lambda stop, counts: _posts(api, stop, counts), 50, api, seconds,
                    release=lambda: standin.send_signal(signal.SIGCONT))
                figures["200 trickling connections"] = _under(
                    lambda stop, counts: _trickle(port, stop, counts), 200, api, seconds)
                for name, f in figures.items():
                    print(f"  rep {rep + 1}/{repeat} {name:28s} p50 {f['p50_ms']:8.2f} ms  p99 {f['p99_ms']:8.2f} ms"
                          f"  max {f['max_ms']:8.1f} ms  {f['statuses']}  load: {f['load']}", flush=True)
                reps.append(figures)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    names = list(reps[0])
    summary = {name: {key: statistics.median(r[name][key] for r in reps) for key in ("p50_ms", "p99_ms", "max_ms")}
               for name in names}
    idle = summary["idle"]["p99_ms"] or 1e-9
    print(f"\n  {'load':28s} {'p50 ms':>9s} {'p99 ms':>9s} {'max ms':>9s} {'p99/idle':>9s}  target p99 < "
          f"{TARGET_P99_MS:.0f} ms")
    for name in names:
        s = summary[name]
        verdict = "PASS" if s["p99_ms"] < TARGET_P99_MS else "FAIL  <<<"
        print(f"  {name:28s} {s['p50_ms']:9.2f} {s['p99_ms']:9.2f} {s['max_ms']:9.1f} {s['p99_ms'] / idle:9.1f}  {verdict}")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only api_hardening"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    result = {"seconds_per_load": seconds, "client_timeout_s": CLIENT_TIMEOUT_S, "summary": summary,
              "repetitions": reps}
    out_file = RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2))
    return result


def _recent_live_syncs(url: str) -> None:
    """A successful live sync of every enterprise just now: /health answers 200 "healthy" (its
    full work: the database ping and the per-enterprise newest live sync)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sync_runs (enterprise_id, flow, started_at, finished_at, duration_s, status)"
                          " SELECT number, 'live', now(), now(), 0.1, 'success' FROM enterprises"))
    engine.dispose()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    run(quick="--quick" in sys.argv, repeat=1)
