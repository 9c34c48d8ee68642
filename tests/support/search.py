"""A warehouse to search (tests/api/test_calls_search.py, tests/cli/test_calls_search.py): two
enterprises in two time zones, two simulated days each with every conversation shape, plus
hand-made calls of one customer number in several spellings, a call without usable times and a
number a spreadsheet would evaluate — imported through the real import.

The expected answers are computed here from the stored rows alone (SPEC §4.7 number matching
re-implemented on digits, PBX-local days with zoneinfo), never with the code under test.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from asterisk_pipeline.warehouse.utc import as_utc
from tests.support.factories import append, create_day_file, hangup

MINSK, VLADIVOSTOK = ZoneInfo("Europe/Minsk"), ZoneInfo("Asia/Vladivostok")
#: 0327 in the shared zone (Minsk), 0200 ten hours east of UTC: one PBX-local day, two UTC spans.
ZONES = {"0327": MINSK, "0200": VLADIVOSTOK}
DAYS = (date(2025, 7, 3), date(2025, 7, 4))
CUSTOMER = "+375 29 111-22-33"  # the hand-made customer; stored in three other spellings too
FORMULA = '=HYPERLINK("http://x.example/?",  "call me")'


def settings(home: Path, db_url: str) -> Settings:
    return Settings(home=home, database_url=db_url, pbx_timezone="Europe/Minsk",
                    enterprise_timezones={"0200": "Asia/Vladivostok"})


def _hand_made(path: Path) -> None:
    """0327, 2025-07-05 (Minsk): the customer in four spellings (answered in, missed in,
    answered out, unanswered out), a 7-digit number, a formula, and a call whose times are unusable."""
    day = "2025-07-05"

    def at(clock: str) -> str:
        return f"{day} {clock}"
    create_day_file(path)
    append(path, [
        hangup("1751700000.1", start=at("09:00:00"), end=at("09:02:00"), at=at("09:02:00"),
               phone="+375291112233", extensions=("201",)),
        hangup("1751700000.2", start=at("10:00:00"), end=at("10:00:30"), at=at("10:00:30"),
               phone="80291112233", extensions=("202",), call_status="0"),
        hangup("1751700000.3", start=at("11:00:00"), end=at("11:05:00"), at=at("11:05:00"),
               phone="375291112233", extensions=("201",), call_type=1),
        hangup("1751700000.4", start=at("12:00:00"), end=at("12:00:10"), at=at("12:00:10"),
               phone="291112233", extensions=("203",), call_type=1, call_status="0"),
        hangup("1751700000.5", start=at("13:00:00"), end=at("13:01:00"), at=at("13:01:00"),
               phone="5551234", extensions=("201",)),
        hangup("1751700000.6", start=at("14:00:00"), end=at("14:01:00"), at=at("14:01:00"),
               phone=FORMULA, extensions=("201",)),
        hangup("1751700000.7", start="", end="", at=at("15:00:00"), phone="+375291112299", extensions=("204",)),
    ])


@dataclass(frozen=True)
class Warehouse:
    db_url: str
    home: Path


def build(engine: Engine, db_url: str, work: Path) -> Warehouse:
    """Import the two enterprises' days (and the hand-made day of 0327) into ``engine``."""
    fleet = Fleet.load(settings(work, db_url))
    with write_transaction(engine) as conn:
        for number in ZONES:
            upsert_enterprise(conn, Enterprise(number, f"ent {number}", f"pbx{number}.lan", "s3cr3t",
                                               None, token_for(number)))
    for index, number in enumerate(ZONES):
        vos = Enterprise(number, f"ent {number}", f"pbx{number}.lan", "s3cr3t", None, token_for(number))
        for offset, day in enumerate(DAYS):
            path = work / number / f"Listen_AMI_{day}.db"
            write_day_file(path, token=token_for(number), day=day, calls=40, seed=7 + offset, dirty_share=0.0,
                           start_id=10**6 * (1 + 2 * index + offset), complex_share=0.6)
            assert import_day_file(engine, fleet, vos, LocalDayFile(path, Flow.HISTORY, day)).ok
    path = work / "0327" / "Listen_AMI_2025-07-05.db"
    _hand_made(path)
    vos = Enterprise("0327", "ent 0327", "pbx0327.lan", "s3cr3t", None, token_for("0327"))
    assert import_day_file(engine, fleet, vos, LocalDayFile(path, Flow.HISTORY, date(2025, 7, 5))).ok
    return Warehouse(db_url, work)


@dataclass(frozen=True)
class Stored:
    """One stored call as the expectations see it."""

    id: int
    enterprise_id: str
    unique_id: str
    start: datetime | None
    phone: str | None
    call_type: str | None
    answered: bool
    shape: str | None
    parties: frozenset[str]

    @property
    def day(self) -> date | None:
        return self.start.astimezone(ZONES[self.enterprise_id]).date() if self.start else None


def stored_calls(engine: Engine) -> list[Stored]:
    """Every call with its participants, newest first (undated last, by id) — the order a search pages in."""
    with engine.connect() as conn:
        parties: dict[int, set[str]] = {}
        for call_id, extension in conn.execute(text("SELECT call_id, extension FROM call_participants")):
            parties.setdefault(int(call_id), set()).add(extension)
        rows = conn.execute(text(
            "SELECT id, enterprise_id, unique_id, start_time, phone_number, call_type, is_answered, shape FROM calls"
        )).all()
    calls = [Stored(int(r[0]), r[1], r[2], as_utc(r[3]), r[4], r[5], bool(r[6]), r[7],
                    frozenset(parties.get(int(r[0]), ()))) for r in rows]
    dated = sorted((c for c in calls if c.start), key=lambda c: (c.start, c.id), reverse=True)
    return dated + sorted((c for c in calls if not c.start), key=lambda c: c.id, reverse=True)


def same_number(one: str | None, other: str | None) -> bool:
    """SPEC §4.7, written from its text: digits equal, or both ≥ 9 digits with equal last 9."""
    a = "".join(ch for ch in one or "" if ch.isdigit())
    b = "".join(ch for ch in other or "" if ch.isdigit())
    return bool(a) and bool(b) and (a == b or (len(a) >= 9 and len(b) >= 9 and a[-9:] == b[-9:]))


def expected(calls: list[Stored], params: dict[str, Any]) -> list[tuple[str, str]]:
    """(enterprise, unique_id) of the calls a search with ``params`` (API names) must find, in order."""
    tests: list[Callable[[Stored], bool]] = []
    names = {"incoming": "0", "outgoing": "1", "internal": "2"}
    if "enterprise_id" in params:
        wanted = params["enterprise_id"]
        ents = set(wanted if isinstance(wanted, list) else [wanted])
        tests.append(lambda c: c.enterprise_id in ents)
    if "number" in params:
        tests.append(lambda c: same_number(c.phone, params["number"]))
    if "extension" in params:
        tests.append(lambda c: params["extension"] in c.parties)
    if "date_from" in params:
        tests.append(lambda c: c.day is not None and c.day >= date.fromisoformat(params["date_from"]))
    if "date_to" in params:
        tests.append(lambda c: c.day is not None and c.day <= date.fromisoformat(params["date_to"]))
    if "direction" in params:
        tests.append(lambda c: c.call_type == names.get(params["direction"], params["direction"]))
    if "answered" in params:
        tests.append(lambda c: c.answered == (params["answered"] == "true"))
    if "shape" in params:
        tests.append(lambda c: c.shape == params["shape"])
    return [(c.enterprise_id, c.unique_id) for c in calls if all(t(c) for t in tests)]
