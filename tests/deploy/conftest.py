"""One production-shaped cluster for tests/deploy: PostgreSQL (warehouse + Dagster storage),
Redis, dagster-webserver + dagster-daemon on deploy/dagster.yaml, and two Celery workers — ``a``
on this host, ``b`` in a network namespace of its own reaching PostgreSQL and Redis over a veth
pair (tests/support/cluster.py). Each process has its own DAGSTER_HOME and ASTERISK_HOME; each
worker reads its own mirror of the simulated PBX logs, and the webserver/daemon host has none —
a run that executed there would fail with missing files.

Needs root (namespaces), socat, Redis and PostgreSQL: skipped without them on a laptop, failed
when ASTERISK_TEST_REQUIRE_SERVICES=1 (CI).
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, simulate_fleet, token_for
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS, LIVE_JOB
from tests.support import cluster as c
from tests.support.dagster_dev import free_port
from tests.support.pg import database_url, new_pg_database, service_missing

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


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}


def _asterisk_env(home: Path, logs: Path, db_host: str, warehouse: str) -> dict[str, str]:
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


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    why = c.netns_unavailable() or c.ensure_redis()
    if why:
        service_missing(f"the Celery cluster test ({why})")
    work = tmp_path_factory.mktemp("celery")
    today = datetime.now(ZONE).date()
    logs = simulated_logs(work / "logs", today)
    redis_db = random.randint(1, 15)
    queue = f"asterisk-test-{uuid.uuid4().hex[:8]}"
    with new_pg_database("ap_celery_wh") as warehouse, new_pg_database("ap_celery_dg") as storage, \
            c.netns() as ns:
        homes = {k: work / k for k in ("host", "a", "b")}
        envs: dict[str, dict[str, str]] = {}
        for key, home in homes.items():
            ip = ns.host_ip if key == "b" else "127.0.0.1"
            mirror = home / "logs"
            if key == "host":
                mirror.mkdir(parents=True)  # no PBX files on the webserver/daemon host
            else:
                shutil.copytree(logs, mirror)  # each worker host has its own mirror
            envs[key] = {**_base_env(), **_asterisk_env(home / "asterisk", mirror, ip, warehouse),
                         **c.pg_env(ip, 5432, storage), **c.celery_env(ip, redis_db, queue)}
            c.instance_yaml(home / "dagster", poll_interval_s=3)
        register(envs["host"], (*SPREAD, KILLED))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        procs = c.start_dagster(envs["host"], homes["host"] / "dagster", port, work)
        workers: dict[str, c.Proc] = {}
        try:
            client = DagsterClient(url, timeout_s=30)
            c.wait_until(lambda: client.repository(LIVE_JOB), 120, "the code location")
            for number in (*SPREAD, KILLED):
                client.add_dynamic_partition(LIVE_JOB, ENTERPRISES_PARTITIONS, number)
            client.close()
            workers["a"] = c.start_worker("a", envs["a"], homes["a"] / "dagster", work)
            workers["b"] = c.start_worker("b", envs["b"], homes["b"] / "dagster", work,
                                          netns=ns.name)
            yield Cluster(work, url, database_url(warehouse),
                          envs["host"], envs, homes, workers, ns, logs, today)
        finally:
            for proc in [*workers.values(), *procs]:
                proc.stop()


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
