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

import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS, LIVE_JOB
from tests.support import cluster as c
from tests.support.dagster_dev import free_port
from tests.support.deploy import (
    KILLED,
    SPREAD,
    ZONE,
    Cluster,
    asterisk_env,
    base_env,
    register,
    simulated_logs,
)
from tests.support.pg import database_url, new_pg_database, service_missing


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
            envs[key] = {**base_env(), **asterisk_env(home / "asterisk", mirror, ip, warehouse),
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
