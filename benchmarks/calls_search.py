"""Call search and export over a fleet's warehouse (issue 22): ``GET /calls`` by number and by
extension, p50/p99 over many random queries, and a 1,000,000-row CSV export's time and the
sidecar's peak RSS.

The warehouse: ``benchmarks.fleet_warehouse`` (300 enterprises × 60 days ≈ 5,000,000
conversations, ~1.5 participants each, repeat callers), COPYed into a fresh PostgreSQL database
after ``db upgrade``; ``--quick``: 20 × 10. The server: ``asterisk-pipeline serve`` (uvicorn, one
process; no Dagster needed for reads). The queries run one after another from one keep-alive
client (latency = request sent → body read), each kind over ``QUERIES`` random values:

- ``number``: a stored customer number in another spelling (``80…`` for ``+375…``), fleet-wide;
- ``number+enterprise``: the same within its enterprise;
- ``extension+enterprise``: an enterprise's extension (the first page, 100 calls);
- ``extension+enterprise+month``: the same over the last 30 PBX-local days, unanswered only.

Targets: p99 ≤ 100 ms per kind; the export of 1,000,000 rows with flat memory, peak RSS ≤ 150 MB
(``VmHWM`` of the sidecar). Baseline (same run, same rows): the number query without its index
(``SET enable_indexscan/bitmapscan = off`` in psql, i.e. a sequential scan), timed in the
database. ``ASTERISK_BENCH_KEEP_DB=1`` keeps the database (its name is printed) and
``ASTERISK_BENCH_SEARCH_DB=<name>`` measures an existing one without rebuilding it.
"""
from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg import sql

from benchmarks.fleet_warehouse import FleetShape, build
from benchmarks.import_throughput import ADMIN_URL, BENCH_DATA, ROOT

CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))
RESULTS = BENCH_DATA / "results-calls-search.json"
QUERIES = 500
EXPORT_ROWS = 1_000_000
TARGET_P99_MS = 100.0
TARGET_PEAK_RSS_MB = 150.0


def _url(database: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


@contextmanager
def _warehouse(shape: FleetShape) -> Iterator[tuple[str, str]]:
    """(database URL, how it was made): built fresh, or the one ASTERISK_BENCH_SEARCH_DB names."""
    given = os.environ.get("ASTERISK_BENCH_SEARCH_DB")
    if given:
        yield _url(given), f"existing database {given}"
        return
    name = f"bench_search_{shape.enterprises}x{shape.days}_{random.randrange(16**6):06x}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _url(name)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASTERISK_")}
        subprocess.run([CLI, "db", "upgrade", "--db", url], env=env, check=True, capture_output=True)
        loaded = build(url, shape)
        made = (f"built {name}: {loaded.calls:,} calls, {loaded.participants:,} participants in "
                f"{loaded.seconds:.0f} s ({loaded.calls / loaded.seconds:,.0f} calls/s, COPY + indexes + VACUUM ANALYZE)")
        yield url, made
    finally:
        if os.environ.get("ASTERISK_BENCH_KEEP_DB") == "1":
            print(f"  kept database {name} (ASTERISK_BENCH_SEARCH_DB={name} reuses it)")
        else:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _samples(url: str, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Random query parameters of each kind, drawn from the stored rows."""
    with psycopg.connect(url) as conn:
        last, total = conn.execute("SELECT max(start_time), count(*) FROM calls").fetchone()  # type: ignore[misc]
        share = min(100.0, 100.0 * QUERIES * 20 / total)  # percent of pages sampled: enough rows, spread out
        customers = conn.execute(
            "SELECT enterprise_id, phone_number FROM calls TABLESAMPLE SYSTEM (%s) WHERE call_type <> '2'"
            " ORDER BY random() LIMIT %s", (share, QUERIES * 2)).fetchall()
        extensions = conn.execute(
            "SELECT c.enterprise_id, p.extension FROM call_participants p TABLESAMPLE SYSTEM (%s)"
            " JOIN calls c ON c.id = p.call_id WHERE length(p.extension) <= 5 ORDER BY random() LIMIT %s",
            (share, QUERIES * 2)).fetchall()
    rng.shuffle(customers)
    rng.shuffle(extensions)
    month = {"date_from": str((last - timedelta(days=29)).date()), "date_to": str(last.date())}

    def respell(phone: str) -> str:  # the same customer as another PBX writes the number
        national = "".join(ch for ch in phone if ch.isdigit())[-9:]
        return rng.choice(("80", "+375 ", "375")) + national
    return {
        "number": [{"number": respell(p)} for _, p in customers[:QUERIES]],
        "number+enterprise": [{"number": respell(p), "enterprise_id": e} for e, p in customers[QUERIES:2 * QUERIES]],
        "extension+enterprise": [{"extension": x, "enterprise_id": e} for e, x in extensions[:QUERIES]],
        "extension+enterprise+month": [{"extension": x, "enterprise_id": e, "answered": "false", **month}
                                       for e, x in extensions[QUERIES:2 * QUERIES]],
    }


def _latencies(api: str, queries: list[dict[str, Any]]) -> dict[str, Any]:
    times, found = [], []
    with httpx.Client(base_url=api, timeout=30) as client:
        client.get("/calls", params={"limit": 1})  # connection and first-use costs out of the figures
        for params in queries:
            began = time.perf_counter()
            answer = client.get("/calls", params=params)
            times.append(1000 * (time.perf_counter() - began))
            answer.raise_for_status()
            found.append(answer.json()["count"])
    times.sort()
    return {"queries": len(times), "p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))],
            "max_ms": times[-1], "mean_calls_found": statistics.mean(found),
            "empty_answers": sum(1 for n in found if n == 0)}


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def _export(api: str, pid: int, params: dict[str, Any]) -> dict[str, Any]:
    """Stream the CSV; RSS sampled every 50,000 lines, VmHWM (peak) read at the end."""
    rss_before = _status_kb(pid, "VmRSS") / 1024
    lines, sent, samples = 0, 0, []
    began = time.perf_counter()
    first_byte = None
    with httpx.stream("GET", f"{api}/calls", params={**params, "format": "csv"}, timeout=600) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - began
            sent += len(chunk)
            lines += chunk.count(b"\n")
            if not samples or lines - samples[-1][0] >= 50_000:
                samples.append((lines, _status_kb(pid, "VmRSS") / 1024))
    seconds = time.perf_counter() - began
    rss = [r for _, r in samples]
    tenth = rss[max(1, len(rss) // 10)] if len(rss) > 1 else rss[0]
    return {"rows": lines - 1, "seconds": seconds, "rows_per_s": (lines - 1) / seconds, "mb_sent": sent / 2**20,
            "first_byte_s": first_byte, "rss_before_mb": rss_before, "rss_after_first_tenth_mb": tenth,
            "rss_last_mb": rss[-1], "peak_rss_mb": _status_kb(pid, "VmHWM") / 1024,
            "growth_after_first_tenth_mb": max(rss) - tenth}


def _export_range(url: str, rows: int) -> dict[str, Any]:
    """PBX-local days (newest first) that together hold at least ``rows`` calls."""
    with psycopg.connect(url) as conn:
        days = conn.execute(
            "SELECT (start_time AT TIME ZONE 'Europe/Minsk')::date AS d, count(*) FROM calls GROUP BY d ORDER BY d DESC"
        ).fetchall()
    total = 0
    for day, count in days:
        total += count
        if total >= rows:
            return {"date_from": str(day), "date_to": str(days[0][0]), "expected_rows": total}
    return {"date_from": str(days[-1][0]), "date_to": str(days[0][0]), "expected_rows": total}


def _baseline_ms(url: str, phone: str) -> float:
    """The number query as a sequential scan (index scans off): what the index saves."""
    key = "".join(ch for ch in phone if ch.isdigit())[-9:]
    with psycopg.connect(url) as conn:
        conn.execute("SET enable_indexscan = off")
        conn.execute("SET enable_bitmapscan = off")
        conn.execute("SET enable_indexonlyscan = off")
        times = []
        for _ in range(3):
            began = time.perf_counter()
            conn.execute("SELECT id FROM calls WHERE phone_key = %s ORDER BY start_time DESC, id DESC LIMIT 101",
                         (key,)).fetchall()
            times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def _plans(url: str, queries: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """EXPLAIN (ANALYZE) of one query of each kind, as search_calls sends it."""
    from sqlalchemy import event

    from asterisk_pipeline.numbers import number_key
    from asterisk_pipeline.warehouse.db import make_engine
    from asterisk_pipeline.warehouse.search import CallFilter, Zones, search_calls
    from asterisk_pipeline.warehouse.stats import DayRange

    engine = make_engine(url)
    plans: dict[str, str] = {}
    for kind, params in ((k, v[0]) for k, v in queries.items()):
        days = DayRange(*(date.fromisoformat(params[k]) for k in ("date_from", "date_to"))) \
            if "date_from" in params else DayRange()
        wanted = CallFilter(
            enterprises=(params["enterprise_id"],) if "enterprise_id" in params else (),
            phone_key=number_key(params.get("number")), extension=params.get("extension"),
            answered=False if params.get("answered") == "false" else None, days=days,
            zones=Zones(ZoneInfo("Europe/Minsk")),
        )
        sent: list[tuple[str, Any]] = []

        def grab(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool,
                 into: list[tuple[str, Any]] = sent) -> None:
            into.append((statement, parameters))
        event.listen(engine, "before_cursor_execute", grab)
        with engine.connect() as conn:
            search_calls(conn, wanted, 100)
        event.remove(engine, "before_cursor_execute", grab)
        with engine.connect() as conn:
            plans[kind] = "\n".join(
                "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + s, p)) for s, p in sent)
    engine.dispose()
    return plans


def _serve(url: str, work: Path) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(ROOT))
    from tests.support.dagster_dev import free_port, wait_until

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
    env.update(ASTERISK_HOME=str(work / "home"), ASTERISK_DATABASE_URL=url)
    port = free_port()
    with open(work / "serve.log", "ab") as out:
        server = subprocess.Popen([CLI, "serve", "--port", str(port), "--dagster-url", f"http://127.0.0.1:{free_port()}"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{api}/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    wait_until(answers, 60, "the sidecar")
    return server, api


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    shape = FleetShape(enterprises=20, days=10) if quick else FleetShape()
    if os.environ.get("ASTERISK_BENCH_SEARCH_SCALE"):  # e.g. "60x30": enterprises × days
        ents, days = (int(v) for v in os.environ["ASTERISK_BENCH_SEARCH_SCALE"].split("x"))
        shape = FleetShape(enterprises=ents, days=days)
    export_rows = 100_000 if quick else EXPORT_ROWS
    print(f"\n== calls_search ({'quick' if quick else 'full'}: {shape.enterprises} enterprises × {shape.days} days,"
          f" {QUERIES} queries per kind, CSV of {export_rows:,} rows; {repeat} repetition(s)) ==", flush=True)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp, _warehouse(shape) as (url, made):
        print(f"  {made}", flush=True)
        with psycopg.connect(url) as conn:
            calls = conn.execute("SELECT count(*) FROM calls").fetchone()[0]  # type: ignore[index]
        queries = _samples(url, rng)
        plans = _plans(url, queries)
        baseline = _baseline_ms(url, queries["number"][0]["number"])
        window = _export_range(url, export_rows)
        reps: list[dict[str, Any]] = []
        for rep in range(repeat):
            server, api = _serve(url, Path(tmp))
            try:
                figures: dict[str, Any] = {kind: _latencies(api, qs) for kind, qs in queries.items()}
                figures["export"] = _export(api, server.pid, {k: window[k] for k in ("date_from", "date_to")})
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=20)
            reps.append(figures)
            for kind in queries:
                f = figures[kind]
                print(f"  rep {rep + 1}/{repeat} {kind:28s} p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms"
                      f"  max {f['max_ms']:6.1f} ms  ({f['mean_calls_found']:.1f} calls found on average,"
                      f" {f['empty_answers']} empty)", flush=True)
            e = figures["export"]
            print(f"  rep {rep + 1}/{repeat} export {e['rows']:,} rows ({e['mb_sent']:.0f} MB) in {e['seconds']:.1f} s"
                  f" ({e['rows_per_s']:,.0f} rows/s, first byte {e['first_byte_s']:.2f} s); sidecar RSS"
                  f" {e['rss_before_mb']:.0f} MB before, {e['rss_after_first_tenth_mb']:.0f} MB after a tenth,"
                  f" {e['rss_last_mb']:.0f} MB at the end, peak {e['peak_rss_mb']:.0f} MB", flush=True)
    summary = {kind: {"p50_ms": statistics.median(r[kind]["p50_ms"] for r in reps),
                      "p99_ms": statistics.median(r[kind]["p99_ms"] for r in reps)} for kind in queries}
    peak = max(r["export"]["peak_rss_mb"] for r in reps)
    growth = max(r["export"]["growth_after_first_tenth_mb"] for r in reps)
    print(f"\n  warehouse: {calls:,} calls")
    for kind, s in summary.items():
        verdict = "PASS" if s["p99_ms"] <= TARGET_P99_MS else "FAIL  <<<"
        print(f"  {kind:28s} p50 {s['p50_ms']:6.1f} ms   p99 {s['p99_ms']:6.1f} ms   target p99 <= {TARGET_P99_MS:.0f} ms"
              f"   {verdict}")
    print(f"  baseline: the number query without indexes (sequential scan) takes {baseline:.0f} ms in the database")
    export_ok = peak <= TARGET_PEAK_RSS_MB and growth <= 10
    print(f"  export of {reps[0]['export']['rows']:,} rows: median {statistics.median(r['export']['seconds'] for r in reps):.1f} s;"
          f" peak RSS {peak:.0f} MB, growth after the first tenth {growth:.1f} MB   target peak <= "
          f"{TARGET_PEAK_RSS_MB:.0f} MB and flat   {'PASS' if export_ok else 'FAIL  <<<'}")
    for kind, plan in plans.items():
        print(f"  plan ({kind}):\n    " + plan.replace("\n", "\n    "))
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only calls_search"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    result = {"calls": calls, "shape": shape.__dict__ | {"last_day": str(shape.last_day)}, "summary": summary,
              "baseline_seq_scan_ms": baseline, "export_window": window, "plans": plans, "repetitions": reps}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(json.dumps(result, indent=2))
    return result
