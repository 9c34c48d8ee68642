"""The Dagster UI at fleet size: the asset's partitions page and the backfill dialog.

Why: a partition status or a backfill dialog that takes a minute to load makes the UI useless at
the size the platform runs. The fleet: 300 enterprises × 2 years of daily partitions declared
(``ASTERISK_HISTORY_START`` = today − 729 days: 219,000 (date, enterprise) keys per history
asset), the last 30 days of each enterprise materialized for calls, call_participants and
call_events (27,000 materializations, reported as runless asset events in batches — what a month of
backfills leaves in the event log, without running 9,000 imports; the partition status the UI
reads is built from these events alike).

A real ``dagster dev`` (webserver + daemon, the repo's ``dagster.yaml`` plus dagster-postgres
storage in a fresh database, as in production: SQLite storage would take ~15 min just to record
the 27,000 events) serves the code location; the warehouse holds the 300 ``enterprises`` rows
so that the enterprise sensor keeps the partitions. The GraphQL documents are the UI's own: read
from the source maps bundled with dagster-webserver (``gql`` templates with their fragments),
so an upgrade measures the queries the new UI sends. Timed, each cold (first) and warm (median
of the next ``repeat``):

* asset partitions page of ``calls``: ``AssetViewDefinitionQuery``, ``PartitionHealthQuery`` (the
  status grid of all 219,000 keys), and for one selected partition ``AssetPartitionDetailQuery``
  and ``AssetPartitionStaleQuery``;
* backfill dialog (Materialize → partitions, on the three history assets):
  ``LaunchAssetLoaderQuery``, ``PartitionHealthQuery`` per selected asset and for the upstream
  ``pbx_day_files``, ``LaunchAssetWarningsQuery``; the dialog's total is the sum (what one
  browser connection waits for if the webserver answers them one after another).

Target: every query ≤ 3 s warm, and each page's total ≤ 3 s. Results:
``bench-data/results-dagster-fleet-ui.json``.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.dagster_dev

import httpx

from asterisk_pipeline import names
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from benchmarks.import_throughput import BENCH_DATA, fresh_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = BENCH_DATA / "results-dagster-fleet-ui.json"
TIMEZONE = "Europe/Minsk"
DECLARED_DAYS = 730
MATERIALIZED_DAYS = 30
TARGET_S = 3.0

#: Queries of the two screens, by operation name (documents come from the UI bundle).
PARTITIONS_PAGE = ("AssetViewDefinitionQuery", "PartitionHealthQuery", "AssetPartitionDetailQuery",
                   "AssetPartitionStaleQuery")
BACKFILL_DIALOG = ("LaunchAssetLoaderQuery", "PartitionHealthQuery", "LaunchAssetWarningsQuery")


def ui_documents() -> dict[str, str]:
    """Every ``gql`` template of the bundled UI sources, fragments resolved: operation → document."""
    import dagster_webserver

    chunks = Path(dagster_webserver.__file__).parent / "webapp" / "build" / "_next" / "static" / "chunks"
    templates: dict[str, str] = {}
    for path in glob.glob(str(chunks / "**" / "*.js.map"), recursive=True):
        try:
            source_map = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        for content in source_map.get("sourcesContent") or []:
            if content and "gql`" in content:
                for found in re.finditer(r"const (\w+) = gql`(.*?)`;", content, re.DOTALL):
                    templates.setdefault(found.group(1), found.group(2))

    def closure(name: str, seen: dict[str, str]) -> None:
        if name in seen or name not in templates:
            return
        body = templates[name]
        seen[name] = re.sub(r"\$\{(\w+)\}", "", body)
        for dep in re.findall(r"\$\{(\w+)\}", body):
            closure(dep, seen)

    documents: dict[str, str] = {}
    for name, body in templates.items():
        op = re.search(r"\bquery (\w+)", body)
        if op and op.group(1) not in documents:
            parts: dict[str, str] = {}
            closure(name, parts)
            # one definition per fragment even when two templates share one
            text, defined = [], set()
            for part in parts.values():
                for definition in re.split(r"(?=\n\s*(?:fragment|query) )", part):
                    head = re.search(r"(fragment|query) (\w+)", definition)
                    if head and head.group(2) not in defined:
                        defined.add(head.group(2))
                        text.append(definition)
            documents[op.group(1)] = "\n".join(text)
    return documents


def _numbers(count: int) -> list[str]:
    return [str(7000 + n) for n in range(count)]


def _prepare_warehouse(url: str, numbers: list[str]) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        for n in numbers:
            upsert_enterprise(conn, Enterprise(n, f"fleet {n}", f"pbx{n}.lan", f"s{n}", None, f"tok{n}"))
    engine.dispose()


def _instance_yaml(home: Path, storage_url: str) -> None:
    parts = urlsplit(storage_url)
    text = (ROOT / "dagster.yaml").read_text() + (
        "\nstorage:\n  postgres:\n    postgres_db:\n"
        f"      hostname: {parts.hostname or '127.0.0.1'}\n      port: {parts.port or 5432}\n"
        f"      username: {parts.username or 'postgres'}\n      password: \"{parts.password or ''}\"\n"
        f"      db_name: {parts.path.lstrip('/')}\n"
        # as deploy/dagster.yaml: dagster-postgres 0.29 needs psycopg2 (SQLAlchemy 2.1 maps a
        # bare postgresql:// to psycopg 3)
        "      scheme: postgresql+psycopg2\n")
    (home / "dagster.yaml").write_text(text)


def _materialize_month(home: Path, numbers: list[str], today: date) -> tuple[int, float]:
    """Report the last month of every enterprise as materialized: runless materializations (what
    ``report_runless_asset_event`` writes), sent with Dagster's event batching
    (``DAGSTER_EVENT_BATCH_SIZE``) so that dagster-postgres stores 1,000 per statement."""
    from dagster import AssetKey, AssetMaterialization, DagsterInstance, MultiPartitionKey
    from dagster._core.events import (
        DagsterEvent,
        DagsterEventBatchMetadata,
        DagsterEventType,
        StepMaterializationData,
        generate_event_batch_id,
    )
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    days = [today - timedelta(days=d) for d in range(1, MATERIALIZED_DAYS + 1)]
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = "1000"
    started = time.perf_counter()
    reported = 0
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(names.ENTERPRISES_PARTITIONS, numbers)
        for key in names.HISTORY_ASSETS:
            for n in numbers:  # one batch per asset and enterprise: a month
                batch = generate_event_batch_id()
                for i, day in enumerate(days):
                    partition = str(MultiPartitionKey({names.DATE_DIMENSION: day.isoformat(),
                                                       names.ENTERPRISE_DIMENSION: n}))
                    event = DagsterEvent(
                        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                        event_specific_data=StepMaterializationData(AssetMaterialization(
                            asset_key=AssetKey(key), partition=partition,
                            metadata={"status": "success", "rows_read": 1200, "new_calls": 100})),
                        job_name=RUNLESS_JOB_NAME,
                    )
                    instance.report_dagster_event(
                        event, RUNLESS_RUN_ID,
                        batch_metadata=DagsterEventBatchMetadata(batch, i == len(days) - 1))
                    reported += 1
    return reported, time.perf_counter() - started


def _post(client: httpx.Client, url: str, document: str, variables: dict[str, Any]) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post(f"{url}/graphql", json={"query": document, "variables": variables})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:800]}")
    return elapsed, len(response.content)


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    from tests.support.dagster_dev import dagster_dev, wait_until

    count = 30 if quick else 300
    numbers = _numbers(count)
    today = datetime.now().date()
    start = today - timedelta(days=DECLARED_DAYS - 1)
    keys = count * DECLARED_DAYS
    print(f"\n== dagster_fleet_ui ({count} enterprises × {DECLARED_DAYS} days declared = {keys:,} keys "
          f"per asset, {MATERIALIZED_DAYS} days materialized; {repeat} warm repetition(s)) ==", flush=True)
    documents = ui_documents()
    missing = [q for q in {*PARTITIONS_PAGE, *BACKFILL_DIALOG} if q not in documents]
    if missing:
        raise RuntimeError(f"queries not found in the dagster-webserver bundle: {missing}")
    calls = {"path": [names.CALLS]}
    history = [{"path": [k]} for k in names.HISTORY_ASSETS]
    partition = f"{today - timedelta(days=3)}|{numbers[count // 2]}"
    # (screen, operation, variables), in the order the UI sends them
    plan: list[tuple[str, str, dict[str, Any]]] = [
        ("partitions page", "AssetViewDefinitionQuery", {"assetKey": calls}),
        ("partitions page", "PartitionHealthQuery", {"assetKey": calls}),
        ("partitions page", "AssetPartitionDetailQuery", {"assetKey": calls, "partitionKey": partition}),
        ("partitions page", "AssetPartitionStaleQuery", {"assetKey": calls, "partitionKey": partition}),
        ("backfill dialog", "LaunchAssetLoaderQuery", {"assetKeys": history}),
        *[("backfill dialog", "PartitionHealthQuery", {"assetKey": k}) for k in history],
        ("backfill dialog", "PartitionHealthQuery", {"assetKey": {"path": [names.PBX_DAY_FILES]}}),
        ("backfill dialog", "LaunchAssetWarningsQuery",
         {"upstreamAssetKeys": [{"path": [names.PBX_DAY_FILES]}]}),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-ui-") as tmp, fresh_database() as warehouse, \
            fresh_database() as storage:
        work = Path(tmp)
        home = work / "dagster"
        home.mkdir()
        _instance_yaml(home, storage)
        _prepare_warehouse(warehouse, numbers)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
        env.update(ASTERISK_HOME=str(work / "asterisk"), ASTERISK_DATABASE_URL=warehouse,
                   ASTERISK_HISTORY_START=start.isoformat(), ASTERISK_PBX_TIMEZONE=TIMEZONE,
                   ASTERISK_TRANSPORT="local", ASTERISK_LOCAL_LOGS_DIR=str(work / "logs"),
                   ASTERISK_LIVE_SCHEDULE="off")
        saved = dict(os.environ)
        os.environ["DAGSTER_HOME"] = str(home)
        try:
            reported, seconds = _materialize_month(home, numbers, today)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        print(f"  {reported:,} materializations reported in {seconds:.0f} s", flush=True)
        log = work / "dagster-dev.log"
        timings: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        with dagster_dev(env, home, log=log) as url, httpx.Client(timeout=300) as client:
            wait_until(lambda: _post(client, url, documents["LaunchAssetLoaderQuery"],
                                     {"assetKeys": history}), 180, "the code location")
            for attempt in range(repeat + 1):
                for index, (screen, op, variables) in enumerate(plan):
                    label = f"{screen}: {op}" + (f" {variables['assetKey']['path'][0]}"
                                                 if op == "PartitionHealthQuery" else "")
                    elapsed, size = _post(client, url, documents[op], variables)
                    timings.setdefault(f"{index:02d} {label}", []).append(elapsed)
                    sizes[f"{index:02d} {label}"] = size
                if attempt == 0:
                    print("  cold pass done", flush=True)
            shutil.copy(log, BENCH_DATA / "dagster-fleet-ui-dev.log") if BENCH_DATA.is_dir() else None
    figures: dict[str, Any] = {"enterprises": count, "declared_days": DECLARED_DAYS, "keys_per_asset": keys,
                               "materialized_days": MATERIALIZED_DAYS, "queries": {}}
    totals: dict[str, list[float]] = {}
    print(f"\n  {'query':68} {'cold s':>7} {'warm s':>7} {'bytes':>10}")
    for label, values in sorted(timings.items()):
        cold, warm = values[0], statistics.median(values[1:]) if len(values) > 1 else values[0]
        figures["queries"][label[3:]] = {"cold_s": cold, "warm_s": warm, "bytes": sizes[label]}
        screen = label[3:].split(":")[0]
        totals.setdefault(screen, [0.0, 0.0])
        totals[screen][0] += cold
        totals[screen][1] += warm
        mark = "PASS" if warm <= TARGET_S else "FAIL  <<<"
        print(f"  {label[3:]:68} {cold:7.2f} {warm:7.2f} {sizes[label]:10,}   target <= {TARGET_S:.0f} s  {mark}")
    for screen, (cold, warm) in totals.items():
        figures[screen] = {"cold_s": cold, "warm_s": warm}
        print(f"  {screen + ' total (sum)':68} {cold:7.2f} {warm:7.2f} {'':10}   target <= {TARGET_S:.0f} s  "
              f"{'PASS' if warm <= TARGET_S else 'FAIL  <<<'}")
    print(f"  reproduce: cd {ROOT} && .venv/bin/python -m benchmarks --only dagster_fleet_ui"
          f"{' --quick' if quick else ''} --repeat {repeat}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(
        json.dumps(figures, indent=2))
    return figures
