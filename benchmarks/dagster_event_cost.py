"""Where a Dagster history run spends its time: the core import against Dagster's event writes.

Why: ``dagster_backfill`` shows Dagster's share of a backfill; this one explains it and measures
the asset layouts it could have. One enterprise × N days (local transport, 100 calls a day) is
materialized in process, as one ranged run of the history multi-asset, on an instance configured
like the embedded default (repo ``dagster.yaml``: SQLite storage) against a fresh PostgreSQL
warehouse, once per layout:

* ``4 specs`` — the layout before issue 11: ``pbx_day_files`` materialized with the three tables;
* ``3 specs`` — today's: ``pbx_day_files`` external (lineage only), the tables materialized;
* ``3 specs, subset planned`` — today's with ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``
  (one "planned" event per asset and run instead of per partition). Measured, not used: Dagster
  then cannot mark a failed day as failed nor a running one as in progress (its partition status
  reads the per-partition planned events), which is the per-day status operators look at.

The instance's event log storage is timed around ``store_event`` per event type; the core's own
time is ``sync_runs``. Printed per layout: run wall, core import, events stored by type, time in
event storage, events and ms per partition.
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

from asterisk_pipeline.devtools.fleet import simulate_fleet, token_for
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


#: layout name -> (pbx_day_files materialized too, environment of the run)
LAYOUTS: dict[str, tuple[bool, dict[str, str]]] = {
    "4 specs (before)": (True, {}),
    "3 specs (now)": (False, {}),
    "3 specs, subset planned": (False, {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}),
}


def _timed(fn: Callable[[Any], None], spent: Counter[str], kinds: Counter[str]) -> Callable[[Any], None]:
    def store_event(event: Any) -> None:
        started = time.perf_counter()
        kind = event.dagster_event_type.value if event.dagster_event_type else "log"
        try:
            fn(event)
        finally:
            spent[kind] += time.perf_counter() - started
            kinds[kind] += 1
    return store_event


def history_assets(settings: Any, *, day_files_materialized: bool) -> Any:
    """The history multi-asset of ``settings``; with ``day_files_materialized`` the layout before
    issue 11 (``pbx_day_files`` one more materialized spec of the same op)."""
    from dagster import AssetSpec, multi_asset

    from asterisk_pipeline.defs import assets

    built = assets.build_history_sync(settings)
    if not day_files_materialized:
        return built
    day_files = AssetSpec(assets.PBX_DAY_FILES, partitions_def=assets.history_partitions(settings),
                          skippable=True)
    return multi_asset(specs=[day_files, *assets.history_specs(settings)], name=built.node_def.name,
                       backfill_policy=built.backfill_policy, pool=built.op.pool)(assets._history_sync)


def _one(days: int, logs: Path, layout: str) -> dict[str, Any]:
    from dagster import DagsterInstance, MultiPartitionKey, materialize
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from asterisk_pipeline.defs.resources import FleetResource, WarehouseResource
    from asterisk_pipeline.names import ENTERPRISES_PARTITIONS
    from asterisk_pipeline.settings import Settings

    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASTERISK_")}
        env.update(ASTERISK_HOME=tmp, ASTERISK_TRANSPORT="local", ASTERISK_LOCAL_LOGS_DIR=str(logs),
                   ASTERISK_DATABASE_URL=url)
        day_files_materialized, layout_env = LAYOUTS[layout]
        env.update(layout_env)
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
                spent, kinds = Counter[str](), Counter[str]()
                storage = instance.event_log_storage
                storage.store_event = _timed(storage.store_event, spent, kinds)  # type: ignore[method-assign]
                keys = [str(MultiPartitionKey({"date": str(FIRST_DAY + timedelta(days=d)),
                                               "enterprise": ENTERPRISE})) for d in range(days)]
                started = time.perf_counter()
                settings = Settings()  # from the environment set above, like the code location
                result = materialize(
                    [history_assets(settings, day_files_materialized=day_files_materialized)],
                    instance=instance,
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
            "events": sum(kinds.values()), "event_kinds": dict(kinds), "event_store_s": sum(spent.values()),
            "event_store_s_by_kind": dict(spent)}


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    days = 20 if quick else 120
    print(f"\n== dagster_event_cost (1 enterprise × {days} days × 100 calls, one ranged run in "
          f"process, embedded instance config, {len(LAYOUTS)} asset layouts; {repeat} repetition(s)) ==",
          flush=True)
    logs = _fleet(days)
    figures: dict[str, Any] = {"days": days, "layouts": {}}
    for rep in range(repeat):
        for layout in LAYOUTS:  # interleaved: drift on a noisy machine hits every layout alike
            r = _one(days, logs, layout)
            figures["layouts"].setdefault(layout, []).append(r)
            print(f"  rep {rep + 1}/{repeat} [{layout}]: run {r['wall_s']:.1f} s (success {r['success']}), "
                  f"core import {r['core_s']:.1f} s ({r['day_syncs']} day syncs), {r['events']} events "
                  f"stored in {r['event_store_s']:.1f} s: {r['event_kinds']}", flush=True)
    print(f"\n  {'layout':26} {'events/partition':>16} {'ms/event':>9} {'event ms/partition':>19} "
          f"{'core ms/partition':>18} {'run s':>6}")
    for layout, reps in figures["layouts"].items():
        med = lambda key: statistics.median(r[key] for r in reps)  # noqa: B023 - used right here
        events = med("events")
        summary = {
            "events_per_partition": events / days,
            "ms_per_event": 1000 * med("event_store_s") / events if events else float("nan"),
            "event_ms_per_partition": 1000 * med("event_store_s") / days,
            "core_ms_per_partition": 1000 * med("core_s") / days,
            "run_s": med("wall_s"),
            "planned_ms_per_event": statistics.median(
                1000 * r["event_store_s_by_kind"].get("ASSET_MATERIALIZATION_PLANNED", 0.0)
                / max(1, r["event_kinds"].get("ASSET_MATERIALIZATION_PLANNED", 0)) for r in reps),
            "materialization_ms_per_event": statistics.median(
                1000 * r["event_store_s_by_kind"].get("ASSET_MATERIALIZATION", 0.0)
                / max(1, r["event_kinds"].get("ASSET_MATERIALIZATION", 0)) for r in reps),
        }
        figures[layout] = summary
        print(f"  {layout:26} {summary['events_per_partition']:16.2f} {summary['ms_per_event']:9.1f} "
              f"{summary['event_ms_per_partition']:19.0f} {summary['core_ms_per_partition']:18.0f} "
              f"{summary['run_s']:6.1f}   (planned {summary['planned_ms_per_event']:.1f} ms, "
              f"materialization {summary['materialization_ms_per_event']:.1f} ms per event)")
    print("  chosen: '3 specs (now)' — the subset-planned layout loses the failed / in-progress status "
          "of each day in the UI")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only dagster_event_cost"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    return figures
