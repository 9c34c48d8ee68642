"""Day files of missed calls and their follow-up (SPEC §4.7) for the sync, CLI and API tests:
two days of one enterprise, and the missed_calls table they give whatever the import order."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from tests.support.factories import append, create_day_file, hangup

FIRST, SECOND = date(2025, 7, 3), date(2025, 7, 4)


def incoming(uid: str, at: str, phone: str, *, answered: bool, ext: str = "201") -> list:
    end = (datetime.fromisoformat(at) + timedelta(seconds=30)).isoformat(" ")
    return [hangup(uid, at=end, start=at, end=end, phone=phone, call_type=0,
                   call_status="2" if answered else "0", extensions=(ext,) if answered else ("201", "202"))]


def outgoing(uid: str, at: str, phone: str, *, answered: bool, ext: str) -> list:
    end = (datetime.fromisoformat(at) + timedelta(seconds=20)).isoformat(" ")
    return [hangup(uid, at=end, start=at, end=end, phone=phone, call_type=1,
                   call_status="2" if answered else "0", extensions=(ext,))]


def first_day() -> list:
    return [
        *incoming("1751526000.1", "2025-07-03 10:00:00", "+375291112233", answered=False),  # called back
        *incoming("1751526100.2", "2025-07-03 10:01:40", "80441234567", answered=False),  # got through
        *incoming("1751526200.3", "2025-07-03 10:03:20", "375259998877", answered=False),  # nobody: expired
        *incoming("1751526300.4", "2025-07-03 10:05:00", "Anonymous", answered=False),  # no number
        *incoming("1751526400.5", "2025-07-03 10:06:40", "+375290000001", answered=True),  # not missed
        *outgoing("1751527000.6", "2025-07-03 10:16:40", "80291112233", answered=False, ext="201"),  # attempt
        *incoming("1751527100.7", "2025-07-03 18:00:00", "375441234567", answered=True, ext="203"),
    ]


def second_day() -> list:
    return [
        *outgoing("1751612400.8", "2025-07-04 09:00:00", "375291112233", answered=False, ext="305"),
        *outgoing("1751612500.9", "2025-07-04 09:01:40", "+375 29 111-22-33", answered=True, ext="305"),
        *incoming("1751612600.10", "2025-07-04 09:03:20", "80291112233", answered=False),  # open? no: expired
    ]


def day_file(directory: Path, day: date, rows: list) -> Path:
    path = create_day_file(directory / f"Listen_AMI_{day.isoformat()}.db", tables=("APIlogs",))
    append(path, rows)
    return path


def missed_day_files(directory: Path) -> dict[date, Path]:
    """The two days' files, each in its own directory (as a PBX mirror would hold them)."""
    return {FIRST: day_file(directory / "a", FIRST, first_day()),
            SECOND: day_file(directory / "b", SECOND, second_day())}


EXPECTED = [
    # missed, number, status, resolved by call, who, seconds, unanswered attempts before
    ("1751526000.1", "+375291112233", "called_back", "1751612500.9", "305", 82900, 2),
    ("1751526100.2", "80441234567", "got_through", "1751527100.7", "203", 28700, 0),
    ("1751526200.3", "375259998877", "expired", None, None, None, 0),
    ("1751526300.4", "Anonymous", "expired", None, None, None, 0),
    ("1751612600.10", "80291112233", "expired", None, None, None, 0),
]


def load_missed_days(engine: Engine, fleet: Fleet, enterprise: Enterprise, files: dict[date, Path],
                     order: list[date]) -> None:
    """Import the days' files as history, in ``order``."""
    for day in order:
        outcome = import_day_file(engine, fleet, enterprise, LocalDayFile(files[day], Flow.HISTORY, day))
        assert outcome.ok, outcome
