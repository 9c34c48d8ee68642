"""A live stack for the sidecar's tests: PostgreSQL warehouse, a simulated five-PBX fleet on the
local transport, a real ``dagster dev`` (webserver + daemon) and ``asterisk-pipeline serve`` under
uvicorn — all on loopback, started once for the package (~30 s)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, create_engine

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, simulate_fleet, token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.conftest import _db_url, new_pg_database
from tests.dagster_dev import dagster_dev, free_port, wait_until

SEED = {"0100": "Radis1", "0200": "july1", "0201": "Vochi", "0327": "VOS", "0367": "june"}
ZONE = ZoneInfo("Europe/Minsk")
HISTORY_DAYS = 7  # the default range of a history request without dates is the last 7 days
CALLS_PER_DAY = 12
TODAY_CALLS = 8
CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))
SECRET = "pbx-secret-never-shown"
NOWHERE = f"http://127.0.0.1:{free_port()}"  # nothing listens: Dagster "down"
#: The day the ``filled`` warehouse holds (history and live flow, 30 calls of 0327).
FILLED_DAY = date(2025, 7, 3)
FILLED_CALLS = 30


@dataclass
class Stack:
    api: str
    dagster: str
    db_url: str
    env: dict[str, str]
    logs: Path
    first_day: date
    today: date

    def engine(self) -> Engine:
        return create_engine(self.db_url)

    def client(self) -> DagsterClient:
        return DagsterClient(self.dagster, timeout_s=30)


#: The legacy documentation's history example: 0327, 2025-06-22 … 2025-07-03.
LEGACY_FIRST, LEGACY_LAST = date(2025, 6, 22), date(2025, 7, 3)
HISTORY_START = date(2025, 6, 1)


def _fleet(logs: Path, today: date) -> None:
    day = LEGACY_FIRST
    while day <= LEGACY_LAST:
        write_day_file(day_file_path(logs, "0327", day), token=token_for("0327"), day=day,
                       calls=CALLS_PER_DAY, seed=day.toordinal(), start_id=8 * 10**8 + day.toordinal() * 1000,
                       dirty_share=0.0)
        day += timedelta(days=1)
    simulate_fleet(logs, enterprises=list(SEED), days=HISTORY_DAYS, calls_per_day=CALLS_PER_DAY,
                   end_date=today - timedelta(days=1), seed=3, dirty_share=0.02)
    for index, number in enumerate(SEED):  # today's files: live calls nobody delivered yet
        write_day_file(day_file_path(logs, number, today), token=token_for(number), day=today,
                       calls=TODAY_CALLS, seed=100 + index, start_id=9 * 10**8 + index * 10**6,
                       dirty_share=0.0, live_share_undelivered=1.0)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _serve(env: dict[str, str], dagster_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--dagster-url", dagster_url],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is not None or answers(f"{url}/"), 60, "the sidecar")
    if process.poll() is not None:
        raise RuntimeError(f"asterisk-pipeline serve exited with {process.returncode}: {log.read_text()[-2000:]}")
    return process, url


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("api-stack")
    today = datetime.now(ZONE).date()
    first_day = today - timedelta(days=HISTORY_DAYS)  # oldest simulated file of every PBX
    logs = work / "logs"
    _fleet(logs, today)
    with new_pg_database("ap_api") as name:
        url = _db_url(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
        env.update(ASTERISK_HOME=str(work / "home"), ASTERISK_TRANSPORT="local",
                   ASTERISK_LOCAL_LOGS_DIR=str(logs), ASTERISK_DATABASE_URL=url,
                   ASTERISK_HISTORY_START=HISTORY_START.isoformat(), ASTERISK_LIVE_SCHEDULE="off",
                   ASTERISK_PBX_TIMEZONE=str(ZONE))
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
            process, api = _serve(env, dagster_url, work / "serve.log")
            try:
                yield Stack(api, dagster_url, url, env, logs, first_day, today)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


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
