"""What Dagster's bookkeeping of a year-long backfill run costs on PostgreSQL, per storage.

Why: on dagster-postgres a backfill run's events — 1,095 "materialization planned" when the
daemon creates a year-long run of one enterprise, 1,095 materializations when its days land —
cost more than on SQLite, because dagster-postgres opens a new connection for every statement
outside the webserver. ``deploy/dagster.yaml`` uses ``PooledPostgresStorage``
(asterisk_pipeline/workers/storage.py) instead; this measures both in the same run, interleaved:

* ``dagster-postgres`` — stock ``storage: postgres:`` (the baseline);
* ``pooled`` — ``storage: custom: PooledPostgresStorage``, the same config.

Each: a fresh storage database, then one ranged run (365 days × one enterprise) of a multi-asset
with the history assets' partitions and specs, materialized in process. The op does no import: it
yields the 1,095 per-day materializations with the metadata a history run records, so only
Dagster's own writes are timed. Printed (medians over repetitions): ms per planned event and per
materialization (from the stored events' timestamps), the run's wall, and stock ÷ pooled.
"""

import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetSpec,
    DagsterEventType,
    DagsterInstance,
    materialize,
    multi_asset,
)

from asterisk_pipeline import names
from asterisk_pipeline.defs.partitions import history_partitions
from asterisk_pipeline.settings import Settings
from benchmarks.import_throughput import BENCH_DATA, fresh_database
from tests.support.cluster import pg_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = BENCH_DATA / "results-dagster-pg-storage.json"
STORAGES = ("dagster-postgres", "pooled")
ENTERPRISE = "0100"
#: The run's console logger prints warnings only (every event at DEBUG would be 2,190 lines).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: What ``_outcome_metadata`` records for a day (assets.py), with typical values.
DAY_METADATA: dict[str, Any] = {
    "enterprise": ENTERPRISE, "status": "success", "rows_read": 1204, "new_calls": 100,
    "updated_calls": 0, "new_events": 1190, "duplicates": 0, "rejected": 14, "conflicts": 0,
    "bytes_transferred": 802816, "seconds": 0.142,
}


def _config(kind: str) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    config.pop("run_launcher", None)  # runs here are in process; no Celery
    if kind == "dagster-postgres":
        config["storage"] = {"postgres": config["storage"]["custom"]["config"]}
    return config


@contextmanager
def _instance(kind: str, storage_url: str) -> Iterator[Any]:
    parts = urlsplit(storage_url)
    saved = dict(os.environ)
    os.environ.update(pg_env(parts.hostname or "127.0.0.1", parts.port or 5432, parts.path.lstrip("/"),
                             parts.username or "postgres", parts.password or ""))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-storage-") as home:
            (Path(home) / "dagster.yaml").write_text(yaml.safe_dump(_config(kind)))
            with DagsterInstance.from_config(home) as instance:
                yield instance
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _year_run(kind: str, days: int) -> dict[str, float]:
    partitions = history_partitions(Settings(history_start=date(2025, 1, 1)))
    specs = [AssetSpec(key, partitions_def=partitions, skippable=True) for key in names.HISTORY_ASSETS]

    @multi_asset(specs=specs, name="bookkeeping_only")
    def bookkeeping_only(context: AssetExecutionContext) -> Iterator[AssetMaterialization]:
        for key in sorted(context.partition_keys):
            for asset in names.HISTORY_ASSETS:
                yield AssetMaterialization(asset_key=asset, partition=key,
                                           metadata={**DAY_METADATA, "file_date": key.split("|")[0]})

    last = date(2025, 1, 1) + timedelta(days=days - 1)
    with fresh_database() as storage_url, _instance(kind, storage_url) as instance:
        instance.add_dynamic_partitions(names.ENTERPRISES_PARTITIONS, [ENTERPRISE])
        started = time.perf_counter()
        result = materialize([bookkeeping_only], instance=instance, run_config=QUIET, tags={
            "dagster/asset_partition_range_start": f"2025-01-01|{ENTERPRISE}",
            "dagster/asset_partition_range_end": f"{last}|{ENTERPRISE}"})
        wall = time.perf_counter() - started
        if not result.success:
            raise RuntimeError(f"the {kind} run failed")
        stamps: dict[DagsterEventType, list[float]] = {}
        for entry in instance.all_logs(result.run_id):
            if entry.dagster_event_type is not None:
                stamps.setdefault(entry.dagster_event_type, []).append(entry.timestamp)
    planned = sorted(stamps[DagsterEventType.ASSET_MATERIALIZATION_PLANNED])
    landed = sorted(stamps[DagsterEventType.ASSET_MATERIALIZATION])
    per = lambda ts: 1000 * (ts[-1] - ts[0]) / (len(ts) - 1)  # ms between events
    return {"planned_ms": per(planned), "materialization_ms": per(landed), "wall_s": wall,
            "events": float(len(planned) + len(landed))}


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    days = 31 if quick else 365
    print(f"\n== dagster_pg_storage ({'quick' if quick else 'full'}: one ranged run of {days} days × "
          f"{len(names.HISTORY_ASSETS)} assets, stock dagster-postgres against the pooled storage; "
          f"{repeat} repetition(s)) ==", flush=True)
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in STORAGES}
    for rep in range(repeat):
        for kind in STORAGES:
            figures = _year_run(kind, days)
            results[kind].append(figures)
            print(f"  rep {rep + 1}/{repeat} {kind:17} planned {figures['planned_ms']:6.2f} ms/event, "
                  f"materialization {figures['materialization_ms']:6.2f} ms/event, run wall "
                  f"{figures['wall_s']:6.1f} s ({figures['events']:.0f} events)", flush=True)
    medians = {kind: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
               for kind, rows in results.items()}
    print(f"\n  {'(median)':19} {'planned ms':>11} {'materialized ms':>16} {'run wall s':>11}")
    for kind in STORAGES:
        m = medians[kind]
        print(f"  {kind:19} {m['planned_ms']:11.2f} {m['materialization_ms']:16.2f} {m['wall_s']:11.1f}")
    stock, pooled = medians["dagster-postgres"], medians["pooled"]
    print(f"  stock ÷ pooled      {stock['planned_ms'] / pooled['planned_ms']:10.1f}× "
          f"{stock['materialization_ms'] / pooled['materialization_ms']:15.1f}× "
          f"{stock['wall_s'] / pooled['wall_s']:10.1f}×")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only dagster_pg_storage"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    summary: dict[str, Any] = {"days": days, "repetitions": results, "medians": medians}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(
        json.dumps(summary, indent=2))
    return summary
