"""Statistics over conversations through the CLI (SPEC §4.5): per PBX-local day, per extension
(missed split in two), per shape, over a range of PBX-local days."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations import shapes
from tests.support.conversations.shapes import Pbx
from tests.support.factories import append, create_day_file


def _run(db: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asterisk_pipeline.cli", *args, "--db", db],
        capture_output=True, text=True, check=False, env={"ASTERISK_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def _cli(db: str, home: Path, *args: str) -> str:
    done = _run(db, home, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _two_days() -> tuple[list[tuple[Pbx, str]], dict[str, str]]:
    """On 2025-07-03 a transfer, a FollowMe answered at the desk and a call nobody took (rang 151
    and 153); on 2025-07-04 one call answered by 151 out of a ring group with 153."""
    first = Pbx(start="2025-07-03 00:20:00", epoch=1751491200)  # 00:20 in Minsk is 21:20 UTC the day before
    transfer = shapes.attended_transfer(first, 0, "375291112233", ["151", "152", "150"])
    followme = shapes.forwarded_to_mobile(first, 300, "375291112244", "150", "375290000002")
    unanswered = first.uid(600)
    first.start(600, unanswered, "375291112255", first.chan(shapes.TRUNK))
    first.dial(601, unanswered, "375291112255", ["151", "153"])
    first.hangup(630, unanswered, phone="375291112255", extensions=["151", "153"], call_type=0, status="0", start=600)
    second = Pbx(start="2025-07-04 12:00:00", epoch=1751619600)
    group = second.uid(0)
    caller, desk = second.chan(shapes.TRUNK), second.chan("151")
    second.start(0, group, "375291112266", caller)
    second.dial(1, group, "375291112266", ["153", "151"])
    talk = second.new_bridge()
    second.bridge(9, group, caller, "375291112266", "151", talk)
    second.bridge(9, group, desk, "151", "375291112266", talk)
    second.leave(69, group, desk, "151", "375291112266", talk)
    second.leave(69, group, caller, "375291112266", "151", talk)
    second.hangup(69, group, phone="375291112266", extensions=["151"], call_type=0, status="2", start=0)
    primaries = {"transfer": transfer["primary"], "followme": followme["primary"], "unanswered": unanswered,
                 "group": group}
    return [(first, "2025-07-03"), (second, "2025-07-04")], primaries


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, str]]:
    """The two days of ``_two_days`` imported through the CLI. Built once for the module: only
    test_stats_per_shape writes (calls.shape), the others never read it."""
    tmp_path = tmp_path_factory.mktemp("stats")
    days, primaries = _two_days()
    db, home = f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "home"
    _cli(db, home, "db", "upgrade")
    _cli(db, home, "enterprise", "add", "0327", "--name", "VOS")
    for pbx, day in days:
        path = create_day_file(tmp_path / f"Listen_AMI_{day}.db")
        append(path, pbx.sorted_rows(strip_bridge_ids=True), "APIlogs")
        _cli(db, home, "import-file", str(path), "--enterprise", "0327", "--flow", "history")
    return db, home, primaries


def test_stats_count_conversations_by_pbx_day_and_extension(warehouse: tuple[str, Path, dict[str, str]]):
    db, home, _ = warehouse
    day, other = json.loads(_cli(db, home, "stats", "--json", "--by-day"))
    assert (day["day"], other["day"]) == ("2025-07-03", "2025-07-04")  # the PBX's days, not the UTC ones
    assert (day["calls"], day["answered"], day["transfers"]) == (3, 2, 2)
    assert day["legs_folded"] == 7 + 3  # transfer: 2 hops of three legs + the answerer; FollowMe: Local pair + desk

    by_extension = {row["extension"]: row for row in json.loads(_cli(
        db, home, "stats", "--json", "--by-extension", "--date-to", "2025-07-03"))}
    assert {k: (v["rang"], v["answered"], v["missed"]) for k, v in by_extension.items()} == {
        "150": (2, 2, 0), "151": (2, 1, 1), "152": (1, 1, 0), "153": (1, 0, 1),
        "375290000002": (1, 0, 1),
    }
    table = _cli(db, home, "stats", "--by-extension")
    assert table.splitlines()[0].split() == [
        "enterprise", "extension", "rang", "answered", "missed_unanswered", "missed_answered_elsewhere",
    ]


def test_missed_is_split_into_nobody_answered_and_answered_elsewhere(warehouse: tuple[str, Path, dict[str, str]]):
    """153 rang twice: once in the call nobody took, once while 151 took the call of the group;
    the mobile rang while the desk phone answered (SPEC §4.5)."""
    db, home, _ = warehouse
    rows = json.loads(_cli(db, home, "stats", "--json", "--by-extension"))
    split = {r["extension"]: (r["rang"], r["answered"], r["missed_unanswered"], r["missed_answered_elsewhere"])
             for r in rows}
    assert split == {
        "150": (2, 2, 0, 0), "151": (3, 2, 1, 0), "152": (1, 1, 0, 0), "153": (2, 0, 1, 1),
        "375290000002": (1, 0, 0, 1),
    }
    assert all(r["missed"] == r["missed_unanswered"] + r["missed_answered_elsewhere"] for r in rows)
    only_second = {r["extension"]: (r["rang"], r["missed_unanswered"], r["missed_answered_elsewhere"])
                   for r in json.loads(_cli(db, home, "stats", "--json", "--by-extension",
                                            "--date-from", "2025-07-04", "--date-to", "2025-07-04"))}
    assert only_second == {"151": (1, 0, 0), "153": (1, 0, 1)}


def test_date_range_selects_pbx_local_days(warehouse: tuple[str, Path, dict[str, str]]):
    db, home, _ = warehouse
    def calls(*bounds: str) -> int:
        return sum(r["calls"] for r in json.loads(_cli(db, home, "stats", "--json", *bounds)))
    # the first day's calls start at 21:20 UTC on 2025-07-02: by the PBX's clock they are the 3rd
    assert calls("--date-from", "2025-07-03", "--date-to", "2025-07-03") == 3
    assert calls("--date-from", "2025-07-02", "--date-to", "2025-07-02") == 0
    assert calls("--date-from", "2025-07-04") == 1
    assert calls("--date-to", "2025-07-04") == calls() == 4
    assert calls("--date-from", "2025-07-05") == 0
    [only] = json.loads(_cli(db, home, "stats", "--json", "--by-day", "--date-from", "2025-07-04"))
    assert (only["day"], only["calls"], only["answered"]) == ("2025-07-04", 1, 1)


@pytest.mark.parametrize(("bounds", "message"), [
    (("--date-from", "2025-07-05", "--date-to", "2025-07-03"), "reversed"),
    (("--date-from", "2025-13-01"), "not a date"),
    (("--date-to", "04.07.2025"), "not a date"),
])
def test_bad_date_ranges_are_usage_errors(warehouse: tuple[str, Path, dict[str, str]], bounds: tuple[str, ...],
                                          message: str):
    db, home, _ = warehouse
    for mode in ((), ("--by-extension",), ("--by-shape",)):
        done = _run(db, home, "stats", *mode, *bounds)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert done.stdout == ""


def test_stats_per_shape(warehouse: tuple[str, Path, dict[str, str]]):
    """Calls, answered and average duration per calls.shape; NULL (not computed yet) is 'unknown'."""
    db, home, primaries = warehouse
    central = sqlite3.connect(db.removeprefix("sqlite:///"))
    with central:
        central.execute("UPDATE calls SET shape = NULL")
    rows = json.loads(_cli(db, home, "stats", "--json", "--by-shape"))
    assert [(r["shape"], r["calls"], r["answered"]) for r in rows] == [("unknown", 4, 3)]

    given = {"transfer": "transfer_attended", "followme": "followme", "unanswered": "unanswered",
             "group": "group"}
    with central:
        for name, shape in given.items():
            central.execute("UPDATE calls SET shape = ? WHERE unique_id = ?", (shape, primaries[name]))
    durations = dict(central.execute("SELECT shape, duration FROM calls").fetchall())
    central.close()
    by_shape = {r["shape"]: r for r in json.loads(_cli(db, home, "stats", "--json", "--by-shape"))}
    assert {k: (v["calls"], v["answered"]) for k, v in by_shape.items()} == {
        "transfer_attended": (1, 1), "followme": (1, 1), "unanswered": (1, 0), "group": (1, 1),
    }
    assert all(by_shape[s]["avg_duration"] == durations[s] for s in by_shape)
    assert by_shape["group"]["avg_duration"] == 69
    only_first = json.loads(_cli(db, home, "stats", "--json", "--by-shape", "--date-to", "2025-07-03"))
    assert sorted(r["shape"] for r in only_first) == ["followme", "transfer_attended", "unanswered"]
    table = _cli(db, home, "stats", "--by-shape")
    assert table.splitlines()[0].split() == ["enterprise", "shape", "calls", "answered", "answered_%",
                                             "avg_duration_s"]


def test_statistics_on_both_databases(engine: Engine, tmp_path: Path):
    """The same figures from PostgreSQL and SQLite: the missed split, shapes and PBX-local day
    bounds (each enterprise's own zone) are SQL on the warehouse."""
    from asterisk_pipeline.warehouse.stats import DayRange, StatsScope, extension_stats, shape_stats

    enterprise = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, enterprise)
    days, primaries = _two_days()
    for pbx, day in days:
        path = create_day_file(tmp_path / f"Listen_AMI_{day}.db")
        append(path, pbx.sorted_rows(), "APIlogs")
        outcome = import_day_file(engine, Fleet.load(Settings(home=tmp_path / "home")), enterprise, LocalDayFile(path, Flow.HISTORY, date.fromisoformat(day)))
        assert outcome.ok, outcome
    with write_transaction(engine) as conn:
        conn.execute(text("UPDATE calls SET shape = NULL"))
        conn.execute(text("UPDATE calls SET shape = 'group' WHERE unique_id = :u"), {"u": primaries["group"]})
    minsk = ZoneInfo("Europe/Minsk")
    with engine.connect() as conn:
        second_day = extension_stats(
            conn, StatsScope(days=DayRange(date(2025, 7, 4), date(2025, 7, 4)), zone_of=lambda _: minsk)
        )
        everything = extension_stats(conn, StatsScope(enterprises={"0327"}))
        by_shape = shape_stats(conn, StatsScope(zone_of=lambda _: minsk), by_day=True)
        in_utc = shape_stats(conn, StatsScope(days=DayRange(date(2025, 7, 2), date(2025, 7, 2))))  # no zone: UTC days
    assert [(r.extension, r.rang, r.missed_unanswered, r.missed_answered_elsewhere) for r in second_day] == [
        ("151", 1, 0, 0), ("153", 1, 0, 1)]
    assert {r.extension: (r.missed_unanswered, r.missed_answered_elsewhere) for r in everything}["153"] == (1, 1)
    assert [(r.day, r.shape, r.calls, r.answered) for r in by_shape] == [
        ("2025-07-03", "unknown", 3, 2), ("2025-07-04", "group", 1, 1)]
    assert [(r.shape, r.calls) for r in in_utc] == [("unknown", 3)]  # 21:20 UTC on the 2nd
