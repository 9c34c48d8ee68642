"""The production-shaped Celery cluster of tests/deploy: its constants, environments and the warehouse the CLI builds for comparison."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, simulate_fleet, token_for
from tests.support import cluster as c
from tests.support.pg import database_url, new_pg_database

CLI = str(c.BIN / "asterisk-pipeline")


FIRST_DAY = date(2025, 7, 1)


#: The spread backfill: three enterprises × four days.
SPREAD = ("0100", "0200", "0327")


SPREAD_DAYS = 4


#: The run killed mid-way: one enterprise, four heavier days (one run: ASTERISK_BACKFILL_RUN_PARTITIONS).
KILLED = "0367"


KILLED_DAYS = 4


KILLED_CALLS = 800


RUN_PARTITIONS = 4


ZONE = ZoneInfo("Europe/Minsk")


@dataclass
class Cluster:
    work: Path
    dagster_url: str
    warehouse_url: str
    host_env: dict[str, str]
    worker_env: dict[str, dict[str, str]]
    homes: dict[str, Path]
    workers: dict[str, c.Proc]
    ns: c.Netns
    logs: Path
    today: date
    stopped: list[c.Proc] = field(default_factory=list)

    def client(self) -> DagsterClient:
        return DagsterClient(self.dagster_url, timeout_s=30)


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}


def asterisk_env(home: Path, logs: Path, db_host: str, warehouse: str) -> dict[str, str]:
    return {"ASTERISK_HOME": str(home), "ASTERISK_TRANSPORT": "local",
            "ASTERISK_LOCAL_LOGS_DIR": str(logs),
            "ASTERISK_DATABASE_URL": f"postgresql://postgres@{db_host}:5432/{warehouse}",
            "ASTERISK_HISTORY_START": FIRST_DAY.isoformat(), "ASTERISK_LIVE_SCHEDULE": "off",
            "ASTERISK_LIVE_INTERVAL_MINUTES": "1", "ASTERISK_PBX_TIMEZONE": str(ZONE),
            "ASTERISK_BACKFILL_RUN_PARTITIONS": str(RUN_PARTITIONS)}


def simulated_logs(root: Path, today: date) -> Path:
    simulate_fleet(root, enterprises=list(SPREAD), days=SPREAD_DAYS, calls_per_day=25,
                   end_date=FIRST_DAY + timedelta(days=SPREAD_DAYS - 1), seed=21, dirty_share=0.02)
    simulate_fleet(root, enterprises=[KILLED], days=KILLED_DAYS, calls_per_day=KILLED_CALLS,
                   end_date=FIRST_DAY + timedelta(days=KILLED_DAYS - 1), seed=22)
    for index, number in enumerate((*SPREAD, KILLED)):  # today's files: a live run covers all
        write_day_file(day_file_path(root, number, today), token=token_for(number), day=today,
                       calls=6, seed=300 + index, start_id=9 * 10**8 + index * 10**6,
                       dirty_share=0.0, live_share_undelivered=1.0)
    return root


def register(env: dict[str, str], numbers: tuple[str, ...]) -> None:
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    for number in numbers:
        subprocess.run([CLI, "enterprise", "add", number, "--name", f"E{number}",
                        "--token", token_for(number)], env=env, check=True, capture_output=True)


@contextmanager
def cli_warehouse(env: dict[str, str], numbers: dict[str, int], logs: Path) -> Iterator[str]:
    """A warehouse the CLI builds from the same files: ``sync history`` per enterprise."""
    with new_pg_database("ap_celery_cli") as name:
        url = database_url(name)
        cli_env = {**env, "ASTERISK_DATABASE_URL": url, "ASTERISK_LOCAL_LOGS_DIR": str(logs),
                   "ASTERISK_HOME": str(logs.parent / f"cli-{name}")}
        register(cli_env, tuple(numbers))
        for number, days in numbers.items():
            subprocess.run([CLI, "sync", "history", "--enterprise", number, "--date-from",
                            FIRST_DAY.isoformat(), "--date-to",
                            (FIRST_DAY + timedelta(days=days - 1)).isoformat()],
                           env=cli_env, check=True, capture_output=True)
        yield url
