"""Where a Dagster history run spends its time: the core import against Dagster's event writes.

Why: ``dagster_backfill`` shows Dagster's share of a backfill; this one explains it. One
enterprise × N days (local transport, 100 calls a day) is materialized in process, as one ranged
run of ``history_sync``, on an instance configured like the embedded default (repo
``dagster.yaml``: SQLite storage) against a fresh PostgreSQL warehouse. The instance's event log
storage is timed around ``store_event``; the core's own time is ``sync_runs``. Printed: run wall,
core import, events stored (planned + materialized + the rest), time in event storage and its
cost per event and per partition.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from asterisk_pipeline.simulate import simulate_fleet, token_for
from benchmarks.import_throughput import BENCH_DATA, fresh_database

ENTERPRISE = "0327"
FIRST_DAY = date(2025, 1, 1)
ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))


def _fleet(days: int) -> Path:
    path = BENCH_DATA / f"fleet-{ENTERPRISE}x{days}x100"
    if not (path / "complete").is_file():
        shutil.rmtree(path, ignore_errors=True)
        simulate_fleet(path, enterprises=[ENTERPRISE], days=days, calls_per_day=100,
                       end_date=FIRST_DAY + timedelta(days=days - 1), seed=11)
        (path / "complete").write_text("ok\n")
    return path


def _timed(fn: Callable[[Any], None], spent: list[float], kinds: Counter[str]) -> Callable[[Any], None]:
    def store_event(event: Any) -> None:
        started = time.perf_counter()
        try:
            fn(event)
        finally:
            spent[0] += time.perf_counter() - started
            kinds[event.dagster_event_type.value if event.dagster_event_type else "log"] += 1
    return store_event


def _one(days: int, logs: Path) -> dict[str, Any]:
    from dagster import DagsterInstance, MultiPartitionKey, materialize
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from asterisk_pipeline.defs.assets import build_history_sync
    from asterisk_pipeline.defs.resources import FleetResource, WarehouseResource
    from asterisk_pipeline.names import ENTERPRISES_PARTITIONS
    from asterisk_pipeline.settings import Settings

    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASTERISK_")}
        env.update(ASTERISK_HOME=tmp, ASTERISK_TRANSPORT="local", ASTERISK_LOCAL_LOGS_DIR=str(logs),
                   ASTERISK_DATABASE_URL=url)
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([CLI, "enterprise", "add", ENTERPRISE, "--name", "bench", "--token",
                        token_for(ENTERPRISE)], env=env, check=True, stdout=subprocess.DEVNULL)
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            home = Path(tmp) / "dagster"
            home.mkdir()
            shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
            with DagsterInstance.from_config(str(home)) as instance:
                instance.add_dynamic_partitions(ENTERPRISES_PARTITIONS, [ENTERPRISE])
                spent, kinds = [0.0], Counter[str]()
                storage = instance.event_log_storage
                storage.store_event = _timed(storage.store_event, spent, kinds)  # type: ignore[method-assign]
                keys = [str(MultiPartitionKey({"date": str(FIRST_DAY + timedelta(days=d)),
                                               "enterprise": ENTERPRISE})) for d in range(days)]
                started = time.perf_counter()
                settings = Settings()  # from the environment set above, like the code location
                result = materialize(
                    [build_history_sync(settings)], instance=instance,
                    tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
                    resources={"warehouse": WarehouseResource(),
                               "fleet": FleetResource.from_settings(settings)})
                wall = time.perf_counter() - started
        finally:
            os.environ.clear()
            os.environ.update(saved)
        engine = create_engine(url)
        with engine.connect() as conn:
            core, syncs = conn.execute(text(
                "SELECT coalesce(sum(extract(epoch FROM finished_at - started_at)), 0), count(*)"
                " FROM sync_runs WHERE status = 'success'")).one()
        engine.dispose()
    return {"success": result.success, "wall_s": wall, "core_s": float(core), "day_syncs": int(syncs),
            "events": sum(kinds.values()), "event_kinds": dict(kinds), "event_store_s": spent[0]}


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    days = 20 if quick else 120
    print(f"\n== dagster_event_cost (1 enterprise × {days} days × 100 calls, one ranged run in "
          f"process, embedded instance config; {repeat} repetition(s)) ==", flush=True)
    logs = _fleet(days)
    reps = []
    for rep in range(repeat):
        r = _one(days, logs)
        reps.append(r)
        print(f"  rep {rep + 1}/{repeat}: run {r['wall_s']:.1f} s (success {r['success']}), core import "
              f"{r['core_s']:.1f} s ({r['day_syncs']} day syncs), {r['events']} events stored in "
              f"{r['event_store_s']:.1f} s: {r['event_kinds']}", flush=True)
    med = lambda key: statistics.median(r[key] for r in reps)
    events = med("events")
    per_event_ms = 1000 * med("event_store_s") / events if events else float("nan")
    print(f"  median: run {med('wall_s'):.1f} s; core import {med('core_s'):.1f} s; event storage "
          f"{med('event_store_s'):.1f} s = {per_event_ms:.1f} ms per event, "
          f"{events / days:.1f} events and {1000 * med('event_store_s') / days:.0f} ms per partition "
          f"(core: {1000 * med('core_s') / days:.0f} ms per partition)")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only dagster_event_cost"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    return {"days": days, "repetitions": reps, "per_event_ms": per_event_ms}
