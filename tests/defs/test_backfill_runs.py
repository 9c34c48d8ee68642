"""How a history backfill is split into runs, through the backfill daemon's own function
(``build_run_requests_with_backfill_policies``, what ``asset_backfill.py`` calls in 1.13:
internal API, re-check on Dagster upgrades), and that those runs build the CLI's warehouse."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, materialize
from dagster._core.definitions.automation_tick_evaluation_context import (
    build_run_requests_with_backfill_policies,
)
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sqlalchemy import Engine, create_engine, text

from asterisk_pipeline import names
from asterisk_pipeline.defs import build_definitions
from asterisk_pipeline.defs.assets import build_history_sync
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.settings import Settings
from tests.support.defs import DAYS, NUMBERS, add_enterprises, settings_without_env

CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))
TABLES = ("calls", "call_legs", "call_participants", "call_events", "event_sightings", "rejected_events")


def _run_requests(settings: Settings, numbers: Sequence[str], days: Sequence[date]) -> Sequence[RunRequest]:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(names.ENTERPRISES_PARTITIONS, list(numbers))
    graph = build_definitions(settings).resolve_asset_graph()
    wanted = [
        AssetKeyPartitionKey(AssetKey(key), f"{day.isoformat()}|{number}")
        for key in names.HISTORY_ASSETS for number in numbers for day in days
    ]
    with partition_loading_context(dynamic_partitions_store=instance):  # as the daemon does
        return build_run_requests_with_backfill_policies(wanted, graph, instance)


@pytest.mark.parametrize(
    ("enterprises", "days", "per_run", "runs"),
    [
        (5, 365, 366, 5),      # the year of five enterprises: one run per enterprise
        (5, 730, 366, 10),     # two years: two per enterprise
        (77, 365, 366, 77),    # runs grow with enterprises, not with days
        (3, 30, 10, 9),        # smaller runs (ASTERISK_BACKFILL_RUN_PARTITIONS=10): 3 × ⌈30/10⌉
        # one day of two enterprises: the daemon groups by the dimension with fewer keys, so
        # the run covers the day over both enterprises
        (2, 1, 366, 1),
    ],
)
def test_backfill_runs_grow_with_enterprises_not_days(
    enterprises: int, days: int, per_run: int, runs: int
) -> None:
    settings = settings_without_env(history_start="2024-01-01", backfill_run_partitions=per_run)
    numbers = [f"{1000 + n}" for n in range(enterprises)]
    first = date(2024, 1, 1)
    requests = _run_requests(settings, numbers, [first + timedelta(days=d) for d in range(days)])
    assert len(requests) == runs
    for request in requests:  # every run: all three assets over one enterprise's range of days
        assert set(request.asset_selection or ()) == {AssetKey(k) for k in names.HISTORY_ASSETS}
        start, end = (request.tags[ASSET_PARTITION_RANGE_START_TAG],
                      request.tags[ASSET_PARTITION_RANGE_END_TAG])
        assert start <= end
        if days > enterprises:
            assert start.split("|")[1] == end.split("|")[1]


def _totals(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def test_the_backfill_runs_build_the_clis_warehouse(
    engine: Engine, db_url: str, resources: dict[str, object], logs_dir: Path, tmp_path: Path
) -> None:
    """2 enterprises × 3 days in runs of 2 partitions: 4 ranged runs as the daemon splits them,
    each materialized like the daemon launches it; the warehouse equals ``sync history``'s."""
    settings = settings_without_env(history_start=DAYS[0].isoformat(), backfill_run_partitions=2)
    requests = _run_requests(settings, NUMBERS, DAYS)
    assert len(requests) == len(NUMBERS) * 2
    add_enterprises(engine, *NUMBERS)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(names.ENTERPRISES_PARTITIONS, list(NUMBERS))
    history = build_history_sync(settings)
    landed = set()
    for request in requests:
        result = materialize([history], instance=instance, resources=resources, tags=request.tags)
        assert result.success
        landed |= {(e.asset_key.to_user_string(), e.partition)
                   for e in result.asset_materializations_for_node(names.HISTORY_OP)}
    assert landed == {(k, f"{d}|{n}") for k in names.HISTORY_ASSETS for n in NUMBERS for d in DAYS}

    cli_db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"PATH": "/usr/bin:/bin", "ASTERISK_HOME": str(tmp_path / "cli-home"),
           "ASTERISK_TRANSPORT": "local", "ASTERISK_LOCAL_LOGS_DIR": str(logs_dir),
           "ASTERISK_DATABASE_URL": cli_db, "ASTERISK_HISTORY_START": DAYS[0].isoformat()}
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    for number in NUMBERS:
        subprocess.run([CLI, "enterprise", "add", number, "--token", token_for(number)],
                       env=env, check=True, capture_output=True)
        subprocess.run([CLI, "sync", "history", "--enterprise", number, "--date-from",
                        DAYS[0].isoformat(), "--date-to", DAYS[-1].isoformat()],
                       env=env, check=True, capture_output=True)
    cli_engine = create_engine(cli_db)
    try:
        cli = _totals(cli_engine)
    finally:
        cli_engine.dispose()
    assert cli["calls"] > 0 and _totals(engine) == cli
