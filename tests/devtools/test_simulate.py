"""The simulator must produce files that look like the PBX's (SPEC §2) and keep its promises.

Other tests and the benchmarks rely on these figures (calls, answered, dirty rows), so they are
checked here against the files themselves, with an independent reading of SPEC §2/§4 rules.
"""
from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from asterisk_pipeline.devtools.calls import (
    BUSY_SHAPES,
    CALL_SHAPES,
    EVENT_TYPES,
    SHAPES,
    SimCall,
    norm_exts,
    truth_path,
    write_truth,
)
from asterisk_pipeline.devtools.dayfile import DayFileSummary, write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, simulate_fleet, token_for
from asterisk_pipeline.devtools.live import append_calls, append_events
from asterisk_pipeline.devtools.plan import plan_calls
from asterisk_pipeline.devtools.rows import ALL_API_TABLES, append_rows

DAY = date(2025, 7, 3)
TOKEN = "100327"
STRICT = "%Y-%m-%d %H:%M:%S"
API_DDL = (
    "CREATE TABLE {} (id INTEGER PRIMARY KEY, DateTime, event, Uniqueid, request, status, "
    "response, responseTime)"
)
DELIVERED = re.compile(r"^<Response \[2\d\d\]>$")


# ---------------------------------------------------------------------------------- helpers


def rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
    finally:
        con.close()


def body_of(request: Any) -> dict[str, Any] | None:
    """The JSON object of a request, or None when SPEC §4.1 rejects it."""
    if request is None:
        return None
    try:
        value = json.loads(request)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) != 19:
        return None
    try:
        return datetime.strptime(value, STRICT)
    except ValueError:
        return None


def is_delivered(status: Any) -> bool:
    if status is None:
        return False
    text = status.strip()
    return text.lower() == "ok" or bool(DELIVERED.match(text))


def chosen_hangups(path: Path, table: str = "APIlogs") -> dict[str, dict[str, Any]]:
    """SPEC §4.2: per UniqueId the hangup with a parsable, latest EndTime, then highest id."""
    best: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    for id_, _, event, uid_col, request, *_ in rows(path, table):
        if event != "hangup":
            continue
        body = body_of(request)
        if body is None:
            continue
        uid = (uid_col or "").strip() or str(body.get("UniqueId") or "").strip()
        if not uid:
            continue
        end = parse_time(body.get("EndTime"))
        rank = (end is not None, end or datetime.min, id_)
        if uid not in best or rank > best[uid][0]:
            best[uid] = (rank, body)
    return {uid: body for uid, (_, body) in best.items()}


def assert_primaries_match(
    chosen: dict[str, dict[str, Any]], summary: DayFileSummary,
) -> None:
    """Every conversation's primary has its final hangup, with the promised status."""
    for call in summary.conversations:
        body = chosen[call.unique_id]
        assert body.get("CallStatus") == call.call_status
        # only a blind transfer to a busy extension says "0" although the caller talked
        assert call.answered == (call.call_status == "2" or call.shape == "blind_transfer_busy")


def all_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        con.close()
    return {name: rows(path, name) for name in sorted(names)}


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DayFileSummary]:
    path = day_file_path(tmp_path_factory.mktemp("clean"), "0327", DAY)
    return path, write_day_file(path, token=TOKEN, day=DAY, calls=1000, seed=7, dirty_share=0.0)


@pytest.fixture(scope="module")
def dirty_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DayFileSummary]:
    path = day_file_path(tmp_path_factory.mktemp("dirty"), "0327", DAY)
    summary = write_day_file(path, token=TOKEN, day=DAY, calls=2000, seed=11, dirty_share=0.05)
    return path, summary


@pytest.fixture(scope="module")
def very_dirty_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DayFileSummary]:
    path = tmp_path_factory.mktemp("vdirty") / "Listen_AMI_2025-07-03.db"
    return path, write_day_file(path, token=TOKEN, day=DAY, calls=1500, seed=3, dirty_share=0.2)


# ------------------------------------------------------------------------------------ tests


def test_day_file_path_and_tokens() -> None:
    assert day_file_path(Path("/r"), "0327", DAY) == Path("/r/0327/Listen_AMI_2025-07-03.db")
    assert token_for("0327") == "100327"
    assert token_for("7") == "100007"
    assert token_for("acme") == token_for("acme")
    assert token_for("acme").isdigit() and token_for("acme") != token_for("acme2")


def test_schema_is_the_pbx_one_and_left_in_rollback_journal_mode(
    clean_file: tuple[Path, DayFileSummary],
) -> None:
    path, _ = clean_file
    con = sqlite3.connect(path)
    try:
        ddl = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall())
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    for name in ALL_API_TABLES:
        assert ddl[name] == API_DDL.format(name)
    assert {"ScriptEvents", "AMIEventLog"} <= set(ddl)
    assert mode == "delete"
    assert not Path(str(path) + "-journal").exists()


def test_same_seed_same_rows_other_seed_differs(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"token": TOKEN, "day": DAY, "calls": 300, "dirty_share": 0.05}
    a = write_day_file(tmp_path / "a" / "f.db", seed=5, **kwargs)
    b = write_day_file(tmp_path / "b" / "f.db", seed=5, **kwargs)
    c = write_day_file(tmp_path / "c" / "f.db", seed=6, **kwargs)
    assert all_tables(a.path) == all_tables(b.path)
    assert (a.calls, a.answered, a.rows, a.dirty_rows) == (
        b.calls, b.answered, b.rows, b.dirty_rows)
    assert rows(a.path, "APIlogs") != rows(c.path, "APIlogs")
    # overwriting gives the same file again, not an appended one
    again = write_day_file(a.path, seed=5, **kwargs)
    assert all_tables(again.path) == all_tables(b.path)


def test_summary_matches_the_file_even_with_dirt(
    dirty_file: tuple[Path, DayFileSummary],
) -> None:
    path, summary = dirty_file
    assert summary.path == path and summary.day == DAY and summary.enterprise == "0327"
    for table, count in summary.rows.items():
        assert len(rows(path, table)) == count
    assert len(summary.conversations) == summary.calls == 2000
    assert sum(c.answered for c in summary.conversations) == summary.answered
    for table in ("APIlogs", "AlternativeAPIlogs"):
        chosen = chosen_hangups(path, table)
        assert len(chosen) == summary.hangup_uids > summary.calls  # legs have hangups too
        assert_primaries_match(chosen, summary)
    assert 0.30 <= summary.answered / summary.calls <= 0.45


def test_every_event_type_and_body_contract(clean_file: tuple[Path, DayFileSummary]) -> None:
    path, summary = clean_file
    assert summary.dirty_rows == 0
    for table in ("APIlogs", "AlternativeAPIlogs"):
        seen: Counter[str] = Counter()
        for _, when, event, uid, request, _status, response, elapsed in rows(path, table):
            body = body_of(request)
            assert body is not None, request
            assert body["Token"] == TOKEN
            assert parse_time(when) is not None and when.startswith(DAY.isoformat())
            assert isinstance(elapsed, float) and isinstance(response, str)
            seen[event] += 1
            if event in ("bridge_create", "bridge_destroy"):
                assert uid == "" and "UniqueId" not in body and body["BridgeUniqueid"]
            else:
                assert re.fullmatch(r"\d{10}\.\d+", uid) and body["UniqueId"] == uid
            if event == "bridge":
                assert ("BridgeUniqueid" in body) == (table != "APIlogs")
        assert set(EVENT_TYPES) <= set(seen), seen
        assert set(seen) == set(EVENT_TYPES)


def test_rows_are_in_time_order_and_uniqueids_carry_the_start_epoch(
    clean_file: tuple[Path, DayFileSummary],
) -> None:
    path, _ = clean_file
    api = rows(path, "APIlogs")
    times = [r[1] for r in api]
    assert times == sorted(times)
    for uid, body in chosen_hangups(path).items():
        epoch = int(uid.split(".")[0])
        local = datetime(1970, 1, 1) + timedelta(seconds=epoch) + timedelta(hours=3)
        assert local.strftime(STRICT) == body["DateReceived"]
        assert parse_time(body["EndTime"]) is not None
        assert body["EndTime"] >= body["DateReceived"]
    seqs = [int(uid.split(".")[1]) for uid in chosen_hangups(path)]
    assert len(set(seqs)) == len(seqs)


def test_encodings_are_mixed_like_real_data(clean_file: tuple[Path, DayFileSummary]) -> None:
    path, _ = clean_file
    chosen = chosen_hangups(path)
    call_types = Counter(type(b["CallType"]).__name__ for b in chosen.values())
    assert call_types["int"] > 0 and call_types["str"] > 0
    assert {b["CallStatus"] for b in chosen.values()} == {"2", "0", "1", "5", ""}
    assert any(b["StartTime"] == "" for b in chosen.values())
    phones = {b["Phone"] for b in chosen.values()}
    assert {"", "<unknown>", "Anonymous"} <= phones
    for body in chosen.values():
        assert ("Trunk" in body) == (str(body["CallType"]) != "2")
    assert any(b.get("ExternalInitiated") is True for b in chosen.values())

    ext_forms: Counter[str] = Counter()
    hangups_per_uid: Counter[str] = Counter()
    cyrillic = 0
    for _, _, event, uid, request, *_ in rows(path, "APIlogs"):
        body = json.loads(request)
        if "Extensions" in body:
            value = body["Extensions"]
            if isinstance(value, str):
                ext_forms["amp" if "&" in value else "single-string"] += 1
            elif value == []:
                ext_forms["empty"] += 1
            elif value == [""]:
                ext_forms["blank"] += 1
            else:
                ext_forms["list"] += 1
        if event == "hangup":
            hangups_per_uid[uid] += 1
        if re.search("[А-Яа-яЁё]", str(body.get("CallerIDName", ""))):
            cyrillic += 1
    assert {"amp", "empty", "blank", "list"} <= set(ext_forms)
    assert cyrillic > 0
    multi = [uid for uid, n in hangups_per_uid.items() if n > 1]
    assert len(multi) > 50  # intermediate hangups
    # an intermediate hangup is never the chosen one: chosen = the last hangup row of the call
    by_uid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, _, event, uid, request, *_ in rows(path, "APIlogs"):
        if event == "hangup":
            by_uid[uid].append(json.loads(request))
    assert all(chosen[uid] == by_uid[uid][-1] for uid in multi)
    assert any(by_uid[uid][0] != by_uid[uid][-1] for uid in multi)


def test_delivery_statuses_and_retries(
    tmp_path: Path, clean_file: tuple[Path, DayFileSummary],
) -> None:
    path, _ = clean_file
    api = rows(path, "APIlogs")
    api_statuses = Counter(r[5] for r in api)
    assert api_statuses.most_common(1)[0][0] == "<Response [200]>"
    assert api_statuses["ok"] > 0 and api_statuses["OK"] > 0
    assert sum(is_delivered(r[5]) for r in api) / len(api) > 0.95

    alt = rows(path, "AlternativeAPIlogs")
    statuses = Counter(r[5] for r in alt)
    assert None in statuses and "''" in statuses and "Timeout" in statuses
    assert any(s and s.startswith("ConnectionError") for s in statuses)
    assert any(s and s.startswith("Error") for s in statuses)
    assert "<Response [500]>" in statuses
    delivered_share = sum(is_delivered(r[5]) for r in alt) / len(alt)
    assert 0.03 < delivered_share < 0.15  # 10% of events, diluted by retry rows

    retries = 0
    for prev, row in itertools.pairwise(alt):
        same_event = (prev[2], prev[3]) == (row[2], row[3])
        if (row[5] == "''" and same_event and prev[4] != row[4]
                and canonical(json.loads(prev[4])) == canonical(json.loads(row[4]))):
            assert not is_delivered(prev[5])  # a retry follows a failure
            retries += 1
    assert retries > 500

    everything = write_day_file(tmp_path / "all.db", token=TOKEN, day=DAY, calls=100, seed=1,
                                    dirty_share=0.0, live_share_undelivered=0.0)
    assert all(is_delivered(r[5]) for r in rows(everything.path, "AlternativeAPIlogs"))
    nothing = write_day_file(tmp_path / "none.db", token=TOKEN, day=DAY, calls=100, seed=1,
                                 dirty_share=0.0, live_share_undelivered=1.0)
    assert not any(is_delivered(r[5]) for r in rows(nothing.path, "AlternativeAPIlogs"))


def test_dirty_share_is_respected(
    dirty_file: tuple[Path, DayFileSummary], clean_file: tuple[Path, DayFileSummary],
) -> None:
    path, summary = dirty_file
    api_rows = sum(summary.rows[t] for t in ALL_API_TABLES)
    assert 0.035 <= summary.dirty_rows / api_rows <= 0.065
    rejected = sum(1 for r in rows(path, "APIlogs") if body_of(r[4]) is None)
    assert 0 < rejected < summary.dirty_rows

    path, summary = clean_file
    assert summary.dirty_rows == 0
    for table in ALL_API_TABLES:
        assert all(body_of(r[4]) is not None for r in rows(path, table))


def test_every_kind_of_dirt_is_present(very_dirty_file: tuple[Path, DayFileSummary]) -> None:
    path, summary = very_dirty_file
    found: Counter[str] = Counter()
    for _, _, event, uid, request, *_ in rows(path, "APIlogs"):
        if request is None:
            found["null"] += 1
            continue
        try:
            value = json.loads(request)
        except ValueError:
            found["invalid"] += 1
            continue
        if isinstance(value, list):
            found["list"] += 1
            continue
        if not isinstance(value, dict):
            found["scalar"] += 1
            continue
        if len(request) >= 100_000:
            found["huge"] += 1
        if event not in EVENT_TYPES:
            found["unknown_event"] += 1
        if event == "hangup" and not uid and not str(value.get("UniqueId", "")).strip():
            found["blank_hangup"] += 1
        if event == "hangup" and parse_time(value.get("EndTime")) is None:
            found["bad_end_time"] += 1
        if event == "hangup" and parse_time(value.get("DateReceived")) is None:
            found["bad_start_time"] += 1
        text = json.dumps(value, ensure_ascii=False)
        if "DROP TABLE" in text:
            found["sql"] += 1
        if any(ch in s for s in map(str, value.values()) for ch in "|\n\t\""):
            found["weird"] += 1
        if uid and value.get("UniqueId") not in (None, uid):
            found["uid_mismatch"] += 1
    expected = {"null", "invalid", "list", "scalar", "huge", "unknown_event", "blank_hangup",
                "bad_end_time", "bad_start_time", "sql", "weird", "uid_mismatch"}
    assert expected <= set(found), found
    # however dirty, the promised calls are all there with their final status
    chosen = chosen_hangups(path)
    assert len(chosen) == summary.hangup_uids and summary.calls == 1500
    assert_primaries_match(chosen, summary)


def test_append_calls_adds_fresh_calls_after_the_existing_rows(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    write_day_file(path, token=TOKEN, day=DAY, calls=200, seed=2, dirty_share=0.0)
    before = {t: rows(path, t) for t in ("APIlogs", "AlternativeAPIlogs")}
    old_uids = {r[3] for t in before.values() for r in t if r[3]}
    old_max_seq = max(int(u.split(".")[1]) for u in old_uids)
    last_time = max(r[1] for r in before["APIlogs"])

    result = append_calls(path, token=TOKEN, day=DAY, calls=15, seed=9)
    assert isinstance(result, int) and result == sum(result.per_table.values())
    assert len(result.calls) == 15
    for table, old in before.items():
        new = rows(path, table)[len(old):]
        assert rows(path, table)[: len(old)] == old
        assert len(new) == result.per_table[table] > 0
        assert min(r[0] for r in new) > max(r[0] for r in old)
        assert all(r[1] >= last_time for r in new)
        new_uids = {r[3] for r in new if r[3]}
        assert new_uids == {uid for c in result.calls for uid in c.legs}
        assert not new_uids & old_uids
        assert min(int(u.split(".")[1]) for u in new_uids) > old_max_seq
    assert {c.unique_id for c in result.calls} <= set(chosen_hangups(path))
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        con.close()

    # a second append continues, never reusing a UniqueId
    second = append_calls(path, token=TOKEN, day=DAY, calls=5, seed=9, commit_every_row=False)
    assert not {c.unique_id for c in second.calls} & {c.unique_id for c in result.calls}


def test_append_calls_creates_a_missing_file_with_the_real_tables(tmp_path: Path) -> None:
    path = tmp_path / "new" / "Listen_AMI_2025-07-03.db"
    result = append_calls(path, token=TOKEN, day=DAY, calls=3, seed=1,
                              tables=("AlternativeAPIlogs",), dirty_share=0.0)
    assert set(result.per_table) == {"AlternativeAPIlogs"}
    assert len(rows(path, "AlternativeAPIlogs")) == result
    assert rows(path, "APIlogs") == []
    assert all(r[1] >= "2025-07-03 08:00:00" for r in rows(path, "AlternativeAPIlogs"))


def test_append_calls_can_follow_a_clock_and_an_id_floor(tmp_path: Path) -> None:
    """The demo's live writer: calls start at "now" (not 08:00) with ids in their own range."""
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    first = append_calls(path, token=TOKEN, day=DAY, calls=3, seed=1, dirty_share=0.0,
                             not_before=2 * 3600, min_id=900_000_000)
    times = [r[1] for r in rows(path, "APIlogs")]
    assert min(times) >= "2025-07-03 02:00:00" and max(times) < "2025-07-03 03:00:00"
    assert min(int(c.unique_id.split(".")[1]) for c in first.calls) > 900_000_000
    # A clock behind the file's last row never moves new calls before it.
    last = max(times)
    append_calls(path, token=TOKEN, day=DAY, calls=2, seed=2, dirty_share=0.0,
                     not_before=3600, min_id=900_000_000)
    assert all(r[1] >= last for r in rows(path, "APIlogs")[len(times):])


def test_hangups_can_arrive_in_a_later_batch(tmp_path: Path) -> None:
    path = tmp_path / "split.db"
    write_day_file(path, token=TOKEN, day=DAY, calls=20, seed=4, dirty_share=0.0)
    early = tuple(e for e in EVENT_TYPES if e != "hangup")
    first = append_calls(path, token=TOKEN, day=DAY, calls=6, seed=4, only_events=early)
    uids = {c.unique_id for c in first.calls}
    assert first > 0
    assert not uids & set(chosen_hangups(path))
    assert not any(r[2] == "hangup" for r in rows(path, "APIlogs") if r[3] in uids)

    later = append_events(path, first.calls, only_events=("hangup",))
    assert later.per_table["APIlogs"] >= 6
    chosen = chosen_hangups(path)
    assert uids <= set(chosen)
    for call in first.calls:
        assert chosen[call.unique_id]["CallStatus"] == call.call_status
        assert call.answered == (call.call_status == "2" or call.shape == "blind_transfer_busy")


def test_append_rows_writes_hand_made_rows(tmp_path: Path) -> None:
    path = tmp_path / "hand.db"
    ids = append_rows(path, "AlternativeAPIlogs", [
        ("2025-07-03 10:00:00", "hangup", "1751526000.1", '{"Token": "1"}', "<Response [500]>"),
        (None, None, None, None, None),
        ("2025-07-03 10:00:01", "hangup", "", "not json", "''"),
    ])
    assert ids == [1, 2, 3]
    got = rows(path, "AlternativeAPIlogs")
    assert [r[:6] for r in got] == [
        (1, "2025-07-03 10:00:00", "hangup", "1751526000.1", '{"Token": "1"}', "<Response [500]>"),
        (2, None, None, None, None, None),
        (3, "2025-07-03 10:00:01", "hangup", "", "not json", "''"),
    ]
    assert append_rows(path, "AlternativeAPIlogs", [(None, "x", None, None, None)]) == [4]
    con = sqlite3.connect(path)
    try:
        sql = con.execute(
            "SELECT sql FROM sqlite_master WHERE name='AlternativeAPIlogs'").fetchone()
    finally:
        con.close()
    assert sql[0] == API_DDL.format("AlternativeAPIlogs")
    with pytest.raises(ValueError):
        append_rows(path, "APIlogs; DROP TABLE x", [])


def test_simulate_fleet(tmp_path: Path) -> None:
    summaries = simulate_fleet(tmp_path, enterprises=["0327", "acme"], days=2, calls_per_day=40,
                                   end_date=DAY, seed=3)
    assert [(s.enterprise, s.day) for s in summaries] == [
        ("0327", DAY - timedelta(days=1)), ("0327", DAY),
        ("acme", DAY - timedelta(days=1)), ("acme", DAY),
    ]
    uids: set[str] = set()
    for s in summaries:
        assert s.path == day_file_path(tmp_path, s.enterprise, s.day) and s.path.exists()
        assert s.calls == 40
        chosen = chosen_hangups(s.path)
        assert {b["Token"] for b in chosen.values()} == {token_for(s.enterprise)}
        assert not uids & set(chosen)
        uids |= set(chosen)
        assert all(r[1].startswith(s.day.isoformat()) for r in rows(s.path, "APIlogs"))
    again = simulate_fleet(tmp_path / "again", enterprises=["0327", "acme"], days=2,
                               calls_per_day=40, end_date=DAY, seed=3)
    assert [all_tables(a.path) for a in again] == [all_tables(s.path) for s in summaries]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_day_file(
            tmp_path / "x.db", token=TOKEN, day=DAY, calls=1, seed=1, dirty_share=1.0)


# ------------------------------------------------------------- conversations (SPEC §2.3)


@pytest.fixture(scope="module")
def shaped_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DayFileSummary]:
    """A default day (complex shapes on) of 2,000 conversations, without dirt."""
    path = day_file_path(tmp_path_factory.mktemp("shapes"), "0327", DAY)
    return path, write_day_file(path, token=TOKEN, day=DAY, calls=2000, seed=21,
                                    dirty_share=0.0)


def rows_by_leg(path: Path, table: str = "APIlogs") -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """(event, body) of every row with a UniqueId, per UniqueId, in file order."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for _, _, event, uid, request, *_ in rows(path, table):
        body = body_of(request)
        if uid and body is not None:
            out[uid].append((event, body))
    return out


def test_every_shape_appears_in_a_default_day_and_simple_calls_stay_the_majority(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    _, summary = shaped_file
    assert set(summary.shapes) == set(SHAPES), summary.shapes
    assert all(summary.shapes[shape] >= 5 for shape in SHAPES), summary.shapes
    complex_share = 1 - summary.shapes["simple"] / summary.calls
    assert 0.15 <= complex_share <= 0.25
    assert Counter(c.shape for c in summary.conversations) == summary.shapes
    assert {c.direction for c in summary.conversations} == {"0", "1", "2"}
    assert 0.30 <= summary.answered / summary.calls <= 0.45  # the headline figure holds


def test_ground_truth_legs_are_the_files_uniqueids(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    path, summary = shaped_file
    by_leg = rows_by_leg(path)
    owner: dict[str, str] = {}
    for call in summary.conversations:
        assert call.legs[0] == call.unique_id and len(set(call.legs)) == len(call.legs)
        assert set(call.trunk_attempts) <= set(call.legs)
        assert call.linked_legs == tuple(u for u in call.legs if u not in call.trunk_attempts)
        for uid in call.legs:
            assert uid not in owner, (uid, owner.get(uid), call.unique_id)
            owner[uid] = call.unique_id
            assert by_leg[uid], uid
        for uid in call.trunk_attempts:  # a failed trunk attempt leaves only a new_callerid
            assert {event for event, _ in by_leg[uid]} == {"new_callerid"}
            assert by_leg[uid][0][1]["Channel"].startswith("SIP/")
        if call.shape == "simple":
            assert call.legs == (call.unique_id,) and call.direction == str(call.call_type)
        assert call.answered == bool(call.transfer_chain)
        assert call.answered_by == (call.transfer_chain[0] if call.answered else None)
    assert set(owner) == set(by_leg)  # every UniqueId of the file belongs to one conversation


def test_hangup_bodies_of_the_legs_are_the_recorded_ones(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    """SPEC §2.3 facts, shape by shape, read back from the APIlogs rows."""
    path, summary = shaped_file
    by_leg = rows_by_leg(path)
    chosen = chosen_hangups(path)

    def leg_hangups(call: SimCall) -> list[dict[str, Any]]:
        return [chosen[u] for u in call.legs[1:] if u in chosen]

    for call in summary.conversations:
        primary = chosen[call.unique_id]
        events = [event for event, _ in by_leg[call.unique_id]]
        if call.direction == "0":
            assert events[0] == "start"
        if call.shape in ("attended_transfer", "attended_transfer_chain"):
            hops = len(call.transfer_chain) - 1
            assert hops == 1 if call.shape == "attended_transfer" else hops in (2, 3)
            assert str(primary["CallType"]) == "0" and primary["CallStatus"] == "2"
            assert norm_exts(primary["Extensions"]) == call.transfer_chain[:1]
            legs = leg_hangups(call)
            assert [norm_exts(b["Extensions"]) for b in legs] == [
                (p,) for p in call.transfer_chain[1:]]
            assert all(str(b["CallType"]) == "2" and b["Phone"] == call.phone
                       and b["CallStatus"] == "2" and "Trunk" not in b for b in legs)
        elif call.shape == "blind_transfer_busy":
            assert str(primary["CallType"]) == "2" and primary["CallStatus"] == "0"
            assert len(call.transfer_chain) == 1 and call.answered
            (busy,) = norm_exts(primary["Extensions"])
            assert busy != call.transfer_chain[0]
        elif call.shape == "unanswered_consultation":
            (leg,) = leg_hangups(call)
            assert str(leg["CallType"]) == "2" and leg["Phone"] == call.transfer_chain[0]
            assert leg["Extensions"] == [""] and len(call.transfer_chain) == 1
        elif call.shape.startswith("followme"):
            (leg,) = leg_hangups(call)
            mobile = leg["Phone"]
            assert str(leg["CallType"]) == "1" and leg["Extensions"] == [call.phone]
            dials = [b for event, b in by_leg[call.unique_id] if event == "dial"]
            assert mobile in norm_exts(dials[-1]["Extensions"])
            if call.shape == "followme_mobile":
                assert call.transfer_chain == (mobile,) and leg["CallStatus"] == "2"
            else:
                assert mobile not in call.transfer_chain and leg["CallStatus"] == "0"
                assert call.trunk_attempts
        elif call.shape == "internal_misleading":
            assert str(primary["CallType"]) == "0" and call.direction == "2"
            for uid in call.legs:
                for _, body in by_leg[uid]:
                    assert body.get("ExternalInitiated") is True
                    assert str(body.get("CallType", "0")) == "0"
        elif call.shape == "internal":
            assert str(primary["CallType"]) == "2" and "Trunk" not in primary


def test_overlapping_conversations_share_a_party_but_no_uniqueid(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    _, summary = shaped_file
    by_primary = {c.unique_id: c for c in summary.conversations}
    seen = Counter[str]()
    for call in summary.conversations:
        if call.shape not in ("busy_manager", "concurrent_caller"):
            assert call.related == ()
            continue
        seen[call.shape] += 1
        (other_uid,) = call.related
        other = by_primary[other_uid]
        assert other.related == (call.unique_id,) and other.shape == call.shape
        assert not set(call.legs) & set(other.legs)
        assert call.start_second <= other.end_second and other.start_second <= call.end_second
        if call.shape == "concurrent_caller":
            assert call.phone == other.phone and call.direction == other.direction == "0"
        else:
            internal, customer = sorted((call, other), key=lambda c: c.direction, reverse=True)
            assert internal.direction == "2" and customer.direction == "0"
            manager = internal.transfer_chain[-1]
            assert customer.transfer_chain[-1] == manager  # handed to the busy manager
    assert seen["busy_manager"] % 2 == 0 and seen["concurrent_caller"] % 2 == 0


def test_bridge_uniqueid_only_in_alternative_bridge_rows(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    path, _ = shaped_file
    for table in ("APIlogs", "AlternativeAPIlogs"):
        counts = Counter[str]()
        for _, _, event, _, request, *_ in rows(path, table):
            body = json.loads(request)
            if event == "bridge":
                counts["bridge"] += 1
                assert ("BridgeUniqueid" in body) == (table != "APIlogs"), body
            elif event in ("bridge_leave", "bridge_create", "bridge_destroy"):
                assert body["BridgeUniqueid"]
        assert counts["bridge"] > 1000


def test_local_halves_have_consecutive_uniqueids(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    path, summary = shaped_file
    halves: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for _, _, _, uid, request, *_ in rows(path, "APIlogs"):
        chan = str(json.loads(request).get("Channel", ""))
        if chan.startswith("Local/"):
            assert re.fullmatch(r"Local/[^@]+@[\w-]+-[0-9a-f]{8};[12]", chan), chan
            base, half = chan.rsplit(";", 1)
            halves[base][half].add(uid)
        elif chan:
            assert re.fullmatch(r"SIP/[^-]+-[0-9a-f]{8}", chan), chan
    pairs = 0
    for base, got in halves.items():
        if set(got) != {"1", "2"}:
            assert "@from-queue-" in base  # the simple calls' queue half, alone by design
            continue
        (one,), (two,) = got["1"], got["2"]
        epoch1, seq1 = one.split(".")
        epoch2, seq2 = two.split(".")
        assert epoch1 == epoch2 and int(seq2) == int(seq1) + 1, base
        pairs += 1
    with_local = {"attended_transfer", "attended_transfer_chain", "unanswered_consultation",
                  "followme_mobile", "followme_cancelled", "busy_manager"}
    expected = sum(len(c.transfer_chain) - 1 if c.shape.startswith("attended") else 1
                   for c in summary.conversations if c.shape in with_local
                   and not (c.shape == "busy_manager" and c.direction == "2"))
    assert pairs == expected


def test_complex_shapes_are_deterministic_and_can_be_turned_off(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"token": TOKEN, "day": DAY, "calls": 400, "dirty_share": 0.02}
    a = write_day_file(tmp_path / "a.db", seed=8, **kwargs)
    b = write_day_file(tmp_path / "b.db", seed=8, **kwargs)
    assert all_tables(a.path) == all_tables(b.path)
    assert a.conversations == b.conversations and a.shapes == b.shapes
    off = write_day_file(tmp_path / "off.db", seed=8, complex_share=0.0, **kwargs)
    assert set(off.shapes) == {"simple"} and off.hangup_uids == off.calls == 400
    assert all(c.legs == (c.unique_id,) for c in off.conversations)
    assert all_tables(off.path) != all_tables(a.path)
    planned = plan_calls(token=TOKEN, day=DAY, calls=50, seed=3)
    assert planned == plan_calls(token=TOKEN, day=DAY, calls=50, seed=3)
    assert len(planned) == 50
    starts = [c.start_second for c in planned]
    assert starts == sorted(starts)
    with pytest.raises(ValueError):
        plan_calls(token=TOKEN, day=DAY, calls=5, seed=3, complex_share=1.5)


# ------------------------------------------------- SPEC shape, links, participants; busy day


def _channels(by_leg: dict[str, list[tuple[str, dict[str, Any]]]], uid: str) -> set[str]:
    return {body["Channel"] for _, body in by_leg[uid] if "Channel" in body}


def test_truth_names_shape_links_and_participants_as_the_rows_show(
    shaped_file: tuple[Path, DayFileSummary],
) -> None:
    """Each leg's link is what its rows allow (a bridge leg has bridge rows, a Local or
    forwarding leg is a Local half, a forwarding leg is never bridged); every dial target of the
    conversation is a participant; holders are 'answered', the rest 'no_answer'."""
    path, summary = shaped_file
    by_leg = rows_by_leg(path, "AlternativeAPIlogs")
    links: Counter[str] = Counter()
    for call in summary.conversations:
        assert call.call_shape in CALL_SHAPES
        assert [uid for uid, _ in call.links] == list(call.linked_legs)
        assert call.links[0] == (call.unique_id, "primary")
        for uid, link in call.links[1:]:
            links[link] += 1
            events = {event for event, _ in by_leg[uid]}
            local = all(ch.startswith("Local/") for ch in _channels(by_leg, uid))
            if link == "bridge":
                assert events & {"bridge", "bridge_leave"} and not local, (call.unique_id, uid)
            else:
                assert link in ("local", "forwarding") and local, (call.unique_id, uid, link)
            if link == "forwarding":
                assert not events & {"bridge", "bridge_leave"}, (call.unique_id, uid)
        people = dict(call.participants)
        assert len(people) == len(call.participants)
        assert {p for p, status in people.items() if status == "answered"} == set(call.transfer_chain)
        assert set(people.values()) <= {"answered", "no_answer"} and call.phone not in people
        for uid in call.linked_legs:
            for event, body in by_leg[uid]:
                if event == "dial":
                    targets = norm_exts(body["Extensions"])
                    assert set(targets) - {call.phone} <= set(people), (call.unique_id, targets)
        expected = {"1": "outgoing", "2": "internal"}.get(call.direction)
        if expected:
            assert call.call_shape == expected
        elif len(call.transfer_chain) > 1:
            assert call.call_shape.startswith("transfer")
        elif not call.transfer_chain and not call.shape.startswith(("followme", "unanswered_cons")):
            assert call.call_shape == "unanswered"
    assert set(links) == {"bridge", "local", "forwarding"}
    assert {c.call_shape for c in summary.conversations} == set(CALL_SHAPES) - {"transfer"}


def test_busy_day_is_every_shape_at_once_and_deterministic(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"token": TOKEN, "day": DAY, "calls": 800, "seed": 5, "dirty_share": 0.0,
                              "complex_share": 0.5, "busy": True}
    a = write_day_file(day_file_path(tmp_path / "a", "0327", DAY), **kwargs)
    b = write_day_file(day_file_path(tmp_path / "b", "0327", DAY), **kwargs)
    assert all_tables(a.path) == all_tables(b.path) and a.conversations == b.conversations
    assert {c.call_shape for c in a.conversations} == set(CALL_SHAPES)
    assert set(a.shapes) == set(SHAPES) | set(BUSY_SHAPES)
    starts = [c.start_second for c in a.conversations]
    # within calls/10 s from 10:00 (the second call of a pair may start while the first is on)
    assert min(starts) >= 10 * 3600 and sum(s < 10 * 3600 + 80 for s in starts) > 0.9 * len(starts)
    callers = Counter(c.phone for c in a.conversations if c.direction == "0" and c.phone[-7:].isdigit())
    assert len(callers) <= 20 and callers.most_common(1)[0][1] > 5  # one small shared pool
    owner: dict[str, str] = {}
    for call in a.conversations:
        for uid in call.legs:
            assert owner.setdefault(uid, call.unique_id) == call.unique_id
    truth = write_truth(a.path, a.conversations)
    assert truth == truth_path(a.path) and truth.name == "Listen_AMI_2025-07-03.truth.jsonl"
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert lines == [c.truth() for c in a.conversations]
    assert lines[0].keys() >= {"primary", "shape", "legs", "chain", "participants", "unlinked"}
    planned = plan_calls(token=TOKEN, day=DAY, calls=200, seed=5, complex_share=0.5, busy=True)
    assert {c.shape for c in planned} & set(BUSY_SHAPES)


def test_simulate_busy_from_the_cli(tmp_path: Path) -> None:
    from asterisk_pipeline.cli import main

    out = tmp_path / "logs"
    assert main(["simulate", str(out), "--enterprises", "0327", "--busy", "500",
                 "--end-date", "2025-07-03"]) == 0
    day = day_file_path(out, "0327", DAY)
    truth = [json.loads(line) for line in truth_path(day).read_text().splitlines()]
    assert len(truth) == 500 and {t["shape"] for t in truth} == set(CALL_SHAPES)
    with sqlite3.connect(day) as con:
        uids = {u for (u,) in con.execute("SELECT DISTINCT Uniqueid FROM APIlogs WHERE Uniqueid != ''")}
    legs = {leg["unique_id"] for t in truth for leg in t["legs"]} | {
        u for t in truth for u in (*t["unlinked"], *t["loose"])}
    assert legs == uids  # clean: every UniqueId of the file is in the truth, and nothing else
