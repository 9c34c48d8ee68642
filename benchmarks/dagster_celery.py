"""A year of history for five enterprises backfilled by Dagster on Celery workers, against the CLI.

The issue's "Dagster on dagster-postgres with one Celery worker, and with two": the same fleet as
``dagster_backfill`` (5 enterprises × 365 day files × 100 calls, local transport, cached in
bench-data/), from empty warehouses, in one run:

* CLI: ``asterisk-pipeline sync history`` per enterprise, one after the other (the baseline);
* Dagster as ``deploy/`` runs it: dagster-webserver + dagster-daemon on deploy/dagster.yaml
  (dagster-postgres in a fresh database, ``AsteriskCeleryRunLauncher``, Redis at 127.0.0.1:6379
  in a database and queue of this run), and one, then two Celery workers
  (``celery -A asterisk_pipeline.workers.app worker``, one run at a time each, max_concurrent_runs
  = workers). One asset backfill of all partitions, launched through GraphQL, timed from the launch
  until the backfill is complete.

Printed: wall time, runs, Dagster events written per partition (rows of ``event_logs`` of the
backfill's runs ÷ partitions), ratio to the CLI wall, and two workers ÷ one. Targets: one worker
≤ 1.5× the CLI, two workers ≤ 0.75× one. Every warehouse must equal the CLI's in row counts.
"""
from __future__ import annotations

import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.names import (
    ENTERPRISES_PARTITIONS,
    FLOW_HISTORY,
    HISTORY_ASSETS,
    LIVE_JOB,
    TAG_FLOW,
)
from benchmarks.dagster_backfill import (
    ENTERPRISES,
    FIRST_DAY,
    ROOT,
    backfill_env,
    cli_import,
    fleet,
    prepare_instance,
    run_timeline,
    warehouse_totals,
)
from benchmarks.import_throughput import BENCH_DATA, fresh_database

RESULTS = BENCH_DATA / "results-dagster-celery.json"
WORKER_COUNTS = (1, 2)


def _events(storage_url: str, run_ids: list[str]) -> int:
    engine = create_engine(storage_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM event_logs WHERE run_id = ANY(:ids)"),
                                    {"ids": run_ids}).scalar_one())
    finally:
        engine.dispose()


def _celery_backfill(work: Path, logs: Path, days: int, workers: int) -> dict[str, Any]:
    from datetime import timedelta

    from tests.support import cluster as c
    from tests.support.dagster_dev import free_port

    why = c.ensure_redis()
    if why:
        raise RuntimeError(f"Redis at 127.0.0.1:6379 is needed: {why}")
    with fresh_database() as url, fresh_database() as storage_url:
        env = backfill_env(work / f"asterisk-{workers}w", logs, url)
        storage = urlsplit(storage_url)
        env.update(c.pg_env(storage.hostname or "127.0.0.1", storage.port or 5432,
                            storage.path.lstrip("/"), storage.username or "postgres",
                            storage.password or ""))
        env.update(c.celery_env("127.0.0.1", random.randint(1, 15), f"bench-{uuid.uuid4().hex[:8]}"))
        prepare_instance(env)
        logs_dir = work / f"logs-{workers}w"
        logs_dir.mkdir()
        homes = {name: work / f"home-{workers}w-{name}" for name in ["host", *map(str, range(workers))]}
        for home in homes.values():
            c.instance_yaml(home, max_concurrent_runs=workers)
        port = free_port()
        procs = c.start_dagster(env, homes["host"], port, logs_dir)
        try:
            procs += [c.start_worker(str(k), env, homes[str(k)], logs_dir) for k in range(workers)]
            client = DagsterClient(f"http://127.0.0.1:{port}", timeout_s=60)
            c.wait_until(lambda: client.repository(LIVE_JOB), 120, "the code location")
            for number in ENTERPRISES:
                client.add_dynamic_partition(LIVE_JOB, ENTERPRISES_PARTITIONS, number)
            names = [f"{FIRST_DAY + timedelta(days=d)}|{n}" for n in ENTERPRISES for d in range(days)]
            started, launched_at = time.perf_counter(), time.time()
            backfill_id = client.launch_backfill(
                asset_keys=HISTORY_ASSETS, partition_names=names, run_config={},
                tags={TAG_FLOW: FLOW_HISTORY}, title=f"benchmark: Celery, {workers} worker(s)")
            done = c.wait_until(lambda: (b := client.backfill(backfill_id)) and b.finished and b,
                                7200, "the backfill", every=1.0)
            wall = time.perf_counter() - started
            client.close()
        finally:
            for proc in reversed(procs):
                proc.stop()
        run_ids = [r.run_id for r in done.runs]
        ran_on = sorted({r.tags.get("asterisk/celery_worker", "?") for r in done.runs})
        # The Celery pickup shows between created and started; the daemon notices the last
        # run's end on its next 30-s iteration.
        landed, timeline = run_timeline(done.runs, launched_at)
        return {"wall_s": wall, "landed_s": landed, "timeline": timeline, "status": done.status,
                "runs": len(run_ids),
                "run_statuses": sorted({r.status for r in done.runs}), "workers_used": ran_on,
                "events": _events(storage_url, run_ids), "partitions": len(names),
                "totals": warehouse_totals(url), "logs": str(logs_dir)}


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL  <<<"


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    days = 20 if quick else 365
    print(f"\n== dagster_celery ({'quick' if quick else 'full'}: {len(ENTERPRISES)} enterprises × "
          f"{days} days; CLI, then Dagster on Celery with {' and '.join(map(str, WORKER_COUNTS))} "
          f"worker(s); {repeat} repetition(s)) ==", flush=True)
    logs = fleet(days)
    reps: list[dict[str, Any]] = []
    for rep in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-celery-") as tmp:
            work = Path(tmp)
            cli = cli_import(work, logs, days)
            result: dict[str, Any] = {"cli": cli}
            print(f"  rep {rep + 1}/{repeat}: CLI {cli['wall_s']:.1f} s", flush=True)
            for workers in WORKER_COUNTS:
                dag = _celery_backfill(work, logs, days, workers)
                result[str(workers)] = dag
                same = dag["totals"] == cli["totals"]
                print(f"    {workers} worker(s): {dag['wall_s']:.1f} s (last run ended at "
                      f"{dag['landed_s']:.1f} s), {dag['runs']} runs "
                      f"({', '.join(dag['run_statuses'])}) on {', '.join(dag['workers_used'])}, "
                      f"{dag['events'] / dag['partitions']:.1f} events/partition; same warehouse as "
                      f"the CLI: {same}", flush=True)
                print("      runs (created, started, ended; s after the launch): "
                      + "; ".join(f"{c:.0f}/{b:.0f}/{e:.0f}" for c, b, e, _ in dag["timeline"]), flush=True)
                if not same:
                    print(f"      CLI totals {cli['totals']}\n      Dagster totals {dag['totals']}")
            reps.append(result)
    median = lambda values: sorted(values)[len(values) // 2]
    cli_wall = median([r["cli"]["wall_s"] for r in reps])
    figures: dict[str, Any] = {"days": days, "cli_wall_s": cli_wall, "repetitions": reps}
    print(f"\n  CLI import wall (median, baseline)      {cli_wall:8.1f} s")
    walls = {}
    for workers in WORKER_COUNTS:
        key = str(workers)
        wall = walls[workers] = median([r[key]["wall_s"] for r in reps])
        runs = max(r[key]["runs"] for r in reps)
        per_partition = median([r[key]["events"] / r[key]["partitions"] for r in reps])
        figures[key] = {"wall_s": wall, "runs": runs, "events_per_partition": per_partition,
                        "vs_cli": wall / cli_wall}
        target = f"target <= 1.5×      {_mark(wall / cli_wall <= 1.5)}" if workers == 1 else ""
        print(f"  [{workers} worker(s)] backfill wall        {wall:8.1f} s   = {wall / cli_wall:.2f}× CLI   "
              f"{target}")
        print(f"  [{workers} worker(s)] runs / events per partition  {runs:4d} / {per_partition:.1f}")
    ratio = walls[2] / walls[1]
    figures["two_over_one"] = ratio
    print(f"  two workers ÷ one worker (wall)      {ratio:8.2f}     target <= 0.75    {_mark(ratio <= 0.75)}")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only dagster_celery"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(
        json.dumps(figures, indent=2, default=str))
    return figures
