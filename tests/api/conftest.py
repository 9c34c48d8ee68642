"""A live stack for the sidecar's tests: PostgreSQL warehouse, a simulated five-PBX fleet on the
local transport, a real ``dagster dev`` (webserver + daemon) and ``asterisk-pipeline serve`` under
uvicorn — all on loopback, started once for the package (~30 s)."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.api import (
    FILLED_CALLS,
    FILLED_DAY,
    HISTORY_DAYS,
    HISTORY_START,
    SECRET,
    SEED,
    ZONE,
    Stack,
    write_stack_fleet,
)
from tests.support.dagster_dev import dagster_dev, wait_until
from tests.support.pg import database_url, new_pg_database
from tests.support.sidecar import CLI, serve, stop_serving
from tests.support.webhook import Receiver, webhook_receiver


@pytest.fixture(scope="package")
def webhook() -> Iterator[Receiver]:
    """The stack's alert webhook (SPEC §4.8): a local receiver every live run posts to."""
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, webhook: Receiver) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("api-stack")
    today = datetime.now(ZONE).date()
    first_day = today - timedelta(days=HISTORY_DAYS)  # oldest simulated file of every PBX
    logs = work / "logs"
    write_stack_fleet(logs, today)
    with new_pg_database("ap_api") as name:
        url = database_url(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
        env.update(ASTERISK_HOME=str(work / "home"), ASTERISK_TRANSPORT="local",
                   ASTERISK_LOCAL_LOGS_DIR=str(logs), ASTERISK_DATABASE_URL=url,
                   ASTERISK_HISTORY_START=HISTORY_START.isoformat(), ASTERISK_LIVE_SCHEDULE="off",
                   ASTERISK_PBX_TIMEZONE=str(ZONE))
        # fleet health: failing after 2 failed syncs; the simulated day never makes a PBX stale
        env.update(ASTERISK_ALERT_WEBHOOK_URL=webhook.url, ASTERISK_HEALTH_FAILING_AFTER="2",
                   ASTERISK_HEALTH_STALE_EVENT_MINUTES="100000", ASTERISK_HEALTH_STALE_SYNC_MINUTES="100000")
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        for number, company in SEED.items():
            subprocess.run([CLI, "enterprise", "add", number, "--name", company, "--host",
                            f"{company}.vochi.lan", "--ip", f"10.88.10.{int(number) % 250}",
                            "--secret", f"s3cr3t-{number}-do-not-show", "--token", token_for(number)],
                           env=env, check=True, capture_output=True)
        with dagster_dev(env, work / "dagster", log=work / "dagster.log") as dagster_url:
            client = DagsterClient(dagster_url)
            wait_until(lambda: client.repository("live_sync_job"), 120, "the code location")
            client.close()
            process, api = serve(env, dagster_url, work / "serve.log")
            try:
                yield Stack(api, dagster_url, url, env, logs, first_day, today, webhook)
            finally:
                stop_serving(process)


@pytest.fixture
def filled(engine: Engine, db_url: str, tmp_path: Path) -> str:
    """0327 with one imported history day and one live day; 0100 registered, inactive."""
    vos = Enterprise("0327", "VOS", "vos.lan", SECRET, "10.0.0.1", token_for("0327"))
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, vos)
        upsert_enterprise(conn, Enterprise("0100", "Radis1", "radis.lan", SECRET, None, token_for("0100")),
                          active=False)
    day = FILLED_DAY
    path = write_day_file(tmp_path / f"Listen_AMI_{day}.db", token=token_for("0327"), day=day, calls=FILLED_CALLS,
                          seed=4, dirty_share=0.0, live_share_undelivered=1.0).path
    settings = Settings(home=tmp_path)
    for flow in (Flow.HISTORY, Flow.LIVE):
        assert import_day_file(engine, Fleet.load(settings), vos, LocalDayFile(path, flow, day)).ok
    return db_url
