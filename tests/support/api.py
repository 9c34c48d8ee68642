"""The sidecar's test stack and the warehouse it fills (tests/api): constants and the fleet."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine

from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, simulate_fleet, token_for
from tests.support.dagster_dev import free_port
from tests.support.webhook import Receiver

SEED = {"0100": "Radis1", "0200": "july1", "0201": "Vochi", "0327": "VOS", "0367": "june"}


ZONE = ZoneInfo("Europe/Minsk")


HISTORY_DAYS = 7  # the default range of a history request without dates is the last 7 days


CALLS_PER_DAY = 12


TODAY_CALLS = 8


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
    webhook: Receiver | None = None  # the alert webhook the stack posts to (SPEC §4.8)

    def engine(self) -> Engine:
        return create_engine(self.db_url)

    def client(self) -> DagsterClient:
        return DagsterClient(self.dagster, timeout_s=30)


#: The legacy documentation's history example: 0327, 2025-06-22 … 2025-07-03.
LEGACY_FIRST, LEGACY_LAST = date(2025, 6, 22), date(2025, 7, 3)


HISTORY_START = date(2025, 6, 1)


def write_stack_fleet(logs: Path, today: date) -> None:
    """The legacy example of 0327, a week of the five PBXs, and today's undelivered live calls."""
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
