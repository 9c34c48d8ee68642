"""A year of history for five enterprises backfilled through Dagster, against the CLI.

The fleet: the seed's five enterprises × 365 day files × 100 calls (local transport, cached in
bench-data/). Both imports start from an empty PostgreSQL warehouse in the same run:

* CLI: ``asterisk-pipeline sync history`` per enterprise, one after the other;
* Dagster, twice: a real ``dagster dev`` (webserver + daemon) with the embedded instance config
  (repo dagster.yaml: SQLite storage under DAGSTER_HOME) and with the production one
  (deploy/dagster.yaml: dagster-postgres in a fresh database); each time one asset backfill of
  the 1,825 (date, enterprise) partitions launched through GraphQL, timed from the launch until
  the backfill is marked complete (and, apart, until its last run ended: the backfill daemon
  looks every 30 s, a fixed Dagster interval).

Printed per instance: wall, runs, the Dagster events written per (date, enterprise) partition
(counted afterwards in the instance's event log: every event of the backfill's runs, planned
materializations included, ÷ partitions; by type too) and the ratio Dagster wall ÷ CLI wall
(target: embedded ≤ 1.3×). ``fleet(days)``, ``cli_import(work, logs, days)`` and
``warehouse_totals(url)`` are imported by ``benchmarks/dagster_celery.py``: keep their signatures.

"Dagster overhead" is printed two ways: (1) the share of the backfill's run time spent outside
the core import — the sum of the runs' durations minus the core's own import time inside them
(``sync_runs`` rows of those runs), divided by the sum of run durations; (2) on the wall clock,
against the CLI: (Dagster wall − CLI wall) ÷ Dagster wall. Targets: wall ≤ 3 min, ≤ 20 runs, overhead
≤ 30 %. Every warehouse must end identical to the CLI's in calls, participants, events, rejects.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.dagster_dev

import yaml
from sqlalchemy import create_engine, text

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.fleet import simulate_fleet, token_for
from asterisk_pipeline.names import (
    ENTERPRISES_PARTITIONS,
    FLOW_HISTORY,
    HISTORY_ASSETS,
    LIVE_JOB,
    TAG_FLOW,
)
from benchmarks.import_throughput import BENCH_DATA, fresh_database

ENTERPRISES = ("0100", "0200", "0201", "0327", "0367")
FIRST_DAY = date(2025, 1, 1)
CALLS_PER_DAY = 100
#: Dagster instance configurations measured: the embedded default and the production one.
INSTANCES = ("embedded", "postgres")
ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))
RESULTS = BENCH_DATA / "results-dagster-backfill.json"
#: Dagster wall ÷ CLI wall targets of issue 11 (the default launcher on dagster-postgres has none:
#: its target, 1.5×, is for the Celery launcher, benchmarks/dagster_celery.py).
RATIO_TARGETS = {"embedded": 1.3}


def fleet(days: int) -> Path:
    """The cached simulated fleet (generating a year takes ~2 min); renamed into place when done."""
    final = BENCH_DATA / f"fleet-{len(ENTERPRISES)}x{days}x{CALLS_PER_DAY}"
    if (final / "complete").is_file():
        return final
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"  generating {len(ENTERPRISES)} × {days} day files × {CALLS_PER_DAY} calls -> {final} ...",
          flush=True)
    started = time.perf_counter()
    simulate_fleet(partial, enterprises=list(ENTERPRISES), days=days, calls_per_day=CALLS_PER_DAY,
                   end_date=FIRST_DAY + timedelta(days=days - 1), seed=11)
    (partial / "complete").write_text("ok\n")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
    return final


def backfill_env(home: Path, logs: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
    env.update(ASTERISK_HOME=str(home), ASTERISK_TRANSPORT="local", ASTERISK_LOCAL_LOGS_DIR=str(logs),
               ASTERISK_DATABASE_URL=url, ASTERISK_HISTORY_START=FIRST_DAY.isoformat())
    return env


def prepare_instance(env: dict[str, str]) -> None:
    """Migrate the warehouse and register the enterprises, through the CLI like an operator."""
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    for number in ENTERPRISES:
        subprocess.run([CLI, "enterprise", "add", number, "--name", f"bench {number}",
                        "--token", token_for(number)], env=env, check=True, stdout=subprocess.DEVNULL)


def warehouse_totals(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in ("calls", "call_participants", "call_events", "rejected_events")}
    finally:
        engine.dispose()


def _core_seconds(url: str, run_ids: list[str] | None) -> tuple[float, int]:
    """Sum of the core's import durations (sync_runs) and how many day syncs succeeded."""
    engine = create_engine(url)
    where = "" if run_ids is None else " AND dagster_run_id = ANY(:ids)"
    try:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT coalesce(sum(extract(epoch FROM finished_at - started_at)), 0), count(*)"
                f" FROM sync_runs WHERE flow = 'history' AND status = 'success'{where}"
            ), {"ids": run_ids or []}).one()
    finally:
        engine.dispose()
    return float(row[0]), int(row[1])


def cli_import(work: Path, logs: Path, days: int) -> dict[str, Any]:
    with fresh_database() as url:
        env = backfill_env(work / "cli-home", logs, url)
        prepare_instance(env)
        last = FIRST_DAY + timedelta(days=days - 1)
        started = time.perf_counter()
        for number in ENTERPRISES:
            subprocess.run([CLI, "sync", "history", "--enterprise", number, "--date-from",
                            FIRST_DAY.isoformat(), "--date-to", last.isoformat()],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        core, days_ok = _core_seconds(url, None)
        return {"wall_s": wall, "core_s": core, "day_syncs": days_ok, "totals": warehouse_totals(url)}


@contextmanager
def _instance_home(work: Path, kind: str, env: dict[str, str]) -> Iterator[Path]:
    """DAGSTER_HOME for the embedded config (repo dagster.yaml, SQLite storage) or the production
    one (deploy/dagster.yaml: dagster-postgres in a fresh database, DAGSTER_PG_* in ``env``)."""
    home = work / f"dagster-{kind}"
    home.mkdir(parents=True)
    if kind == "embedded":
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        yield home
        return
    # The production instance without its Celery run launcher: runs start on this host (the
    # default launcher); benchmarks/dagster_celery.py measures the same storage with workers.
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    config.pop("run_launcher", None)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with fresh_database() as storage_url:
        parts = urlsplit(storage_url)
        env.update(DAGSTER_PG_HOST=parts.hostname or "127.0.0.1", DAGSTER_PG_PORT=str(parts.port or 5432),
                   DAGSTER_PG_USER=parts.username or "postgres", DAGSTER_PG_PASSWORD=parts.password or "",
                   DAGSTER_PG_DB=parts.path.lstrip("/"))
        yield home


def _events_written(home: Path, env: dict[str, str], run_ids: list[str]) -> dict[str, int]:
    """Every event the instance at ``home`` stored for these runs, by type ("log" for plain log
    lines); read through Dagster's own event log API, so SQLite shards and PostgreSQL alike."""
    from collections import Counter

    from dagster import DagsterInstance

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            kinds: Counter[str] = Counter()
            for run_id in run_ids:
                for entry in instance.all_logs(run_id):
                    kinds[entry.dagster_event_type.value if entry.dagster_event_type else "log"] += 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return dict(kinds)


def _dagster_backfill(work: Path, logs: Path, days: int, kind: str) -> dict[str, Any]:
    from tests.support.dagster_dev import dagster_dev, wait_until

    with fresh_database() as url:
        env = backfill_env(work / f"asterisk-{kind}", logs, url)
        prepare_instance(env)
        log = work / f"dagster-dev-{kind}.log"
        with _instance_home(work, kind, env) as home, dagster_dev(env, home, log=log) as base_url:
            client = DagsterClient(base_url, timeout_s=60)
            wait_until(lambda: client.repository(LIVE_JOB), 120, "the code location")
            for number in ENTERPRISES:
                client.add_dynamic_partition(LIVE_JOB, ENTERPRISES_PARTITIONS, number)
            names = [f"{FIRST_DAY + timedelta(days=d)}|{n}" for n in ENTERPRISES for d in range(days)]
            started, launched_at = time.perf_counter(), time.time()
            backfill_id = client.launch_backfill(
                asset_keys=HISTORY_ASSETS, partition_names=names, run_config={},
                tags={TAG_FLOW: FLOW_HISTORY}, title="benchmark: a year of five enterprises")
            done = wait_until(lambda: (b := client.backfill(backfill_id)) and b.finished and b,
                              3600, "the backfill", every=1.0)
            wall = time.perf_counter() - started
            client.close()
            runs = done.runs
            run_ids = [r.run_id for r in runs]
            events = _events_written(home, env, run_ids)
        landed, timeline = run_timeline(runs, launched_at)
        run_seconds = sum((r.end_time or 0) - (r.start_time or 0) for r in runs)
        core, days_ok = _core_seconds(url, run_ids)
        return {"wall_s": wall, "timeline": timeline, "landed_s": landed, "status": done.status, "runs": len(runs),
                "run_statuses": sorted({r.status for r in runs}), "run_seconds": run_seconds,
                "core_s": core, "day_syncs": days_ok, "partitions": len(names),
                "totals": warehouse_totals(url), "dagster_log": str(log), "events": events,
                "events_per_partition": sum(events.values()) / len(names)}


def run_timeline(runs: list[Any], launched_at: float) -> tuple[float, list[tuple[float, float, float, str]]]:
    """When the last run ended, and when each run was created, started and ended (seconds after
    the launch, with its first partition): the backfill daemon's submission, the queue and the
    tail."""
    landed = max((r.end_time or 0) for r in runs) - launched_at if runs else float("nan")
    timeline = sorted((round((r.created_time or launched_at) - launched_at, 1),
                       round((r.start_time or launched_at) - launched_at, 1),
                       round((r.end_time or launched_at) - launched_at, 1),
                       r.tags.get("dagster/asset_partition_range_start", "?")) for r in runs)
    return landed, timeline


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL  <<<"


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    days = 20 if quick else 365
    print(f"\n== dagster_backfill ({'quick' if quick else 'full'}: {len(ENTERPRISES)} enterprises × "
          f"{days} days × {CALLS_PER_DAY} calls; {repeat} repetition(s)) ==", flush=True)
    logs = fleet(days)
    reps: list[dict[str, Any]] = []
    for rep in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-dagster-") as tmp:
            work = Path(tmp)
            cli = cli_import(work, logs, days)
            result: dict[str, Any] = {"cli": cli}
            print(f"  rep {rep + 1}/{repeat}: CLI {cli['wall_s']:.1f} s (core {cli['core_s']:.1f} s)", flush=True)
            for kind in INSTANCES:
                dag = _dagster_backfill(work, logs, days, kind)
                dag["overhead"] = 1 - dag["core_s"] / dag["run_seconds"] if dag["run_seconds"] else float("nan")
                result[kind] = dag
                same = cli["totals"] == dag["totals"]
                print(f"    Dagster, {kind} instance: {dag['wall_s']:.1f} s (last run ended at "
                      f"{dag['landed_s']:.1f} s), {dag['runs']} runs ({', '.join(dag['run_statuses'])}), "
                      f"run time {dag['run_seconds']:.1f} s, core {dag['core_s']:.1f} s, overhead "
                      f"{dag['overhead']:.1%}, {dag['day_syncs']}/{dag['partitions']} day syncs; "
                      f"same warehouse as the CLI: {same}", flush=True)
                print(f"      events written per partition: {dag['events_per_partition']:.2f} ("
                      + ", ".join(f"{k} {v / dag['partitions']:.2f}" for k, v in sorted(
                          dag["events"].items(), key=lambda kv: -kv[1]) if v >= dag["partitions"] / 10)
                      + f"; {sum(dag['events'].values()):,} events in all)", flush=True)
                print("      runs (created/started→ended, s after launch; first partition): " + ", ".join(
                    f"{c:.0f}/{a:.0f}→{b:.0f} {first}" for c, a, b, first in dag["timeline"]), flush=True)
                if not same:
                    print(f"      CLI totals {cli['totals']}\n      Dagster totals {dag['totals']}")
            reps.append(result)
    median = lambda values: sorted(values)[len(values) // 2]
    cli_wall = median([r["cli"]["wall_s"] for r in reps])
    figures: dict[str, Any] = {"days": days, "enterprises": len(ENTERPRISES), "cli_wall_s": cli_wall,
                               "repetitions": reps}
    print(f"\n  CLI import wall (median, baseline)        {cli_wall:8.1f} s")
    for kind in INSTANCES:
        wall = median([r[kind]["wall_s"] for r in reps])
        landed = median([r[kind]["landed_s"] for r in reps])
        runs = max(r[kind]["runs"] for r in reps)
        overhead = median([r[kind]["overhead"] for r in reps])
        events = median([r[kind]["events_per_partition"] for r in reps])
        ratio = median([r[kind]["wall_s"] / r["cli"]["wall_s"] for r in reps])  # paired per repetition
        figures[kind] = {"wall_s": wall, "landed_s": landed, "runs": runs, "overhead_share": overhead,
                         "events_per_partition": events, "wall_vs_cli": ratio}
        print(f"  [{kind} instance] backfill wall (median) {wall:8.1f} s   target <= 180 s   {_mark(wall <= 180)}"
              f"   (last run ended at {landed:.1f} s)")
        limit = RATIO_TARGETS.get(kind)
        print(f"  [{kind} instance] Dagster wall / CLI wall {ratio:7.2f}×    "
              + (f"target <= {limit:.1f}×    {_mark(ratio <= limit)}" if limit else "(informational)"))
        print(f"  [{kind} instance] runs created           {runs:8d}     target <= 20      {_mark(runs <= 20)}")
        print(f"  [{kind} instance] events per partition   {events:8.2f}     (by layout: dagster_event_cost)")
        versus_cli = (wall - cli_wall) / wall
        figures[kind]["wall_overhead_vs_cli"] = versus_cli
        print(f"  [{kind} instance] Dagster overhead       {overhead:8.1%}     target <= 30 %    "
              f"{_mark(overhead <= 0.30)}   (Σ run time outside the core import ÷ Σ run time)")
        print(f"  [{kind} instance] … measured on the wall {versus_cli:8.1%}     target <= 30 %    "
              f"{_mark(versus_cli <= 0.30)}   ((Dagster wall − CLI wall) ÷ Dagster wall)")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only dagster_backfill"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(
        json.dumps(figures, indent=2, default=str))
    return figures
