"""The simulator must produce files that look like the PBX's (SPEC §2) and keep its promises.

Other tests and the benchmarks rely on these figures (calls, answered, dirty rows), so they are
checked here against the files themselves, with an independent reading of SPEC §2/§4 rules.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from asterisk_pipeline import simulate as sim

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


def all_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        con.close()
    return {name: rows(path, name) for name in sorted(names)}


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sim.DayFileSummary]:
    path = sim.day_file_path(tmp_path_factory.mktemp("clean"), "0327", DAY)
    return path, sim.write_day_file(path, token=TOKEN, day=DAY, calls=1000, seed=7, dirty_share=0.0)


@pytest.fixture(scope="module")
def dirty_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sim.DayFileSummary]:
    path = sim.day_file_path(tmp_path_factory.mktemp("dirty"), "0327", DAY)
    summary = sim.write_day_file(path, token=TOKEN, day=DAY, calls=2000, seed=11, dirty_share=0.05)
    return path, summary


@pytest.fixture(scope="module")
def very_dirty_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sim.DayFileSummary]:
    path = tmp_path_factory.mktemp("vdirty") / "Listen_AMI_2025-07-03.db"
    return path, sim.write_day_file(path, token=TOKEN, day=DAY, calls=1500, seed=3, dirty_share=0.2)


# ------------------------------------------------------------------------------------ tests


def test_day_file_path_and_tokens() -> None:
    assert sim.day_file_path(Path("/r"), "0327", DAY) == Path("/r/0327/Listen_AMI_2025-07-03.db")
    assert sim.token_for("0327") == "100327"
    assert sim.token_for("7") == "100007"
    assert sim.token_for("acme") == sim.token_for("acme")
    assert sim.token_for("acme").isdigit() and sim.token_for("acme") != sim.token_for("acme2")


def test_schema_is_the_pbx_one_and_left_in_rollback_journal_mode(
    clean_file: tuple[Path, sim.DayFileSummary],
) -> None:
    path, _ = clean_file
    con = sqlite3.connect(path)
    try:
        ddl = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall())
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    for name in sim.ALL_API_TABLES:
        assert ddl[name] == API_DDL.format(name)
    assert {"ScriptEvents", "AMIEventLog"} <= set(ddl)
    assert mode == "delete"
    assert not Path(str(path) + "-journal").exists()


def test_same_seed_same_rows_other_seed_differs(tmp_path: Path) -> None:
    kwargs = dict(token=TOKEN, day=DAY, calls=300, dirty_share=0.05)
    a = sim.write_day_file(tmp_path / "a" / "f.db", seed=5, **kwargs)  # type: ignore[arg-type]
    b = sim.write_day_file(tmp_path / "b" / "f.db", seed=5, **kwargs)  # type: ignore[arg-type]
    c = sim.write_day_file(tmp_path / "c" / "f.db", seed=6, **kwargs)  # type: ignore[arg-type]
    assert all_tables(a.path) == all_tables(b.path)
    assert (a.calls, a.answered, a.rows, a.dirty_rows) == (
        b.calls, b.answered, b.rows, b.dirty_rows)
    assert rows(a.path, "APIlogs") != rows(c.path, "APIlogs")
    # overwriting gives the same file again, not an appended one
    again = sim.write_day_file(a.path, seed=5, **kwargs)  # type: ignore[arg-type]
    assert all_tables(again.path) == all_tables(b.path)


def test_summary_matches_the_file_even_with_dirt(
    dirty_file: tuple[Path, sim.DayFileSummary],
) -> None:
    path, summary = dirty_file
    assert summary.path == path and summary.day == DAY and summary.enterprise == "0327"
    for table, count in summary.rows.items():
        assert len(rows(path, table)) == count
    for table in ("APIlogs", "AlternativeAPIlogs"):
        chosen = chosen_hangups(path, table)
        assert len(chosen) == summary.calls == 2000
        answered = sum(1 for body in chosen.values() if body.get("CallStatus") == "2")
        assert answered == summary.answered
    assert 0.30 <= summary.answered / summary.calls <= 0.45


def test_every_event_type_and_body_contract(clean_file: tuple[Path, sim.DayFileSummary]) -> None:
    path, summary = clean_file
    assert summary.dirty_rows == 0
    for table in ("APIlogs", "AlternativeAPIlogs"):
        seen: Counter[str] = Counter()
        for _, when, event, uid, request, status, response, elapsed in rows(path, table):
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
        assert set(sim.EVENT_TYPES) <= set(seen), seen
        assert set(seen) == set(sim.EVENT_TYPES)


def test_rows_are_in_time_order_and_uniqueids_carry_the_start_epoch(
    clean_file: tuple[Path, sim.DayFileSummary],
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


def test_encodings_are_mixed_like_real_data(clean_file: tuple[Path, sim.DayFileSummary]) -> None:
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
    tmp_path: Path, clean_file: tuple[Path, sim.DayFileSummary],
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
    for prev, row in zip(alt, alt[1:]):
        same_event = (prev[2], prev[3]) == (row[2], row[3])
        if row[5] == "''" and same_event and prev[4] != row[4]:
            if canonical(json.loads(prev[4])) == canonical(json.loads(row[4])):
                assert not is_delivered(prev[5])  # a retry follows a failure
                retries += 1
    assert retries > 500

    everything = sim.write_day_file(tmp_path / "all.db", token=TOKEN, day=DAY, calls=100, seed=1,
                                    dirty_share=0.0, live_share_undelivered=0.0)
    assert all(is_delivered(r[5]) for r in rows(everything.path, "AlternativeAPIlogs"))
    nothing = sim.write_day_file(tmp_path / "none.db", token=TOKEN, day=DAY, calls=100, seed=1,
                                 dirty_share=0.0, live_share_undelivered=1.0)
    assert not any(is_delivered(r[5]) for r in rows(nothing.path, "AlternativeAPIlogs"))


def test_dirty_share_is_respected(
    dirty_file: tuple[Path, sim.DayFileSummary], clean_file: tuple[Path, sim.DayFileSummary],
) -> None:
    path, summary = dirty_file
    api_rows = sum(summary.rows[t] for t in sim.ALL_API_TABLES)
    assert 0.035 <= summary.dirty_rows / api_rows <= 0.065
    rejected = sum(1 for r in rows(path, "APIlogs") if body_of(r[4]) is None)
    assert 0 < rejected < summary.dirty_rows

    path, summary = clean_file
    assert summary.dirty_rows == 0
    for table in sim.ALL_API_TABLES:
        assert all(body_of(r[4]) is not None for r in rows(path, table))


def test_every_kind_of_dirt_is_present(very_dirty_file: tuple[Path, sim.DayFileSummary]) -> None:
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
        if event not in sim.EVENT_TYPES:
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
    assert len(chosen) == summary.calls == 1500
    assert sum(b.get("CallStatus") == "2" for b in chosen.values()) == summary.answered


def test_append_calls_adds_fresh_calls_after_the_existing_rows(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    sim.write_day_file(path, token=TOKEN, day=DAY, calls=200, seed=2, dirty_share=0.0)
    before = {t: rows(path, t) for t in ("APIlogs", "AlternativeAPIlogs")}
    old_uids = {r[3] for t in before.values() for r in t if r[3]}
    old_max_seq = max(int(u.split(".")[1]) for u in old_uids)
    last_time = max(r[1] for r in before["APIlogs"])

    result = sim.append_calls(path, token=TOKEN, day=DAY, calls=15, seed=9)
    assert isinstance(result, int) and result == sum(result.per_table.values())
    assert len(result.calls) == 15
    for table, old in before.items():
        new = rows(path, table)[len(old):]
        assert rows(path, table)[: len(old)] == old
        assert len(new) == result.per_table[table] > 0
        assert min(r[0] for r in new) > max(r[0] for r in old)
        assert all(r[1] >= last_time for r in new)
        new_uids = {r[3] for r in new if r[3]}
        assert new_uids == {c.unique_id for c in result.calls}
        assert not new_uids & old_uids
        assert min(int(u.split(".")[1]) for u in new_uids) > old_max_seq
    assert {c.unique_id for c in result.calls} <= set(chosen_hangups(path))
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        con.close()

    # a second append continues, never reusing a UniqueId
    second = sim.append_calls(path, token=TOKEN, day=DAY, calls=5, seed=9, commit_every_row=False)
    assert not {c.unique_id for c in second.calls} & {c.unique_id for c in result.calls}


def test_append_calls_creates_a_missing_file_with_the_real_tables(tmp_path: Path) -> None:
    path = tmp_path / "new" / "Listen_AMI_2025-07-03.db"
    result = sim.append_calls(path, token=TOKEN, day=DAY, calls=3, seed=1,
                              tables=("AlternativeAPIlogs",), dirty_share=0.0)
    assert set(result.per_table) == {"AlternativeAPIlogs"}
    assert len(rows(path, "AlternativeAPIlogs")) == result
    assert rows(path, "APIlogs") == []
    assert all(r[1] >= "2025-07-03 08:00:00" for r in rows(path, "AlternativeAPIlogs"))


def test_append_calls_can_follow_a_clock_and_an_id_floor(tmp_path: Path) -> None:
    """The demo's live writer: calls start at "now" (not 08:00) with ids in their own range."""
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    first = sim.append_calls(path, token=TOKEN, day=DAY, calls=3, seed=1, dirty_share=0.0,
                             not_before=2 * 3600, min_id=900_000_000)
    times = [r[1] for r in rows(path, "APIlogs")]
    assert min(times) >= "2025-07-03 02:00:00" and max(times) < "2025-07-03 03:00:00"
    assert min(int(c.unique_id.split(".")[1]) for c in first.calls) > 900_000_000
    # A clock behind the file's last row never moves new calls before it.
    last = max(times)
    sim.append_calls(path, token=TOKEN, day=DAY, calls=2, seed=2, dirty_share=0.0,
                     not_before=3600, min_id=900_000_000)
    assert all(r[1] >= last for r in rows(path, "APIlogs")[len(times):])


def test_hangups_can_arrive_in_a_later_batch(tmp_path: Path) -> None:
    path = tmp_path / "split.db"
    sim.write_day_file(path, token=TOKEN, day=DAY, calls=20, seed=4, dirty_share=0.0)
    early = tuple(e for e in sim.EVENT_TYPES if e != "hangup")
    first = sim.append_calls(path, token=TOKEN, day=DAY, calls=6, seed=4, only_events=early)
    uids = {c.unique_id for c in first.calls}
    assert first > 0
    assert not uids & set(chosen_hangups(path))
    assert not any(r[2] == "hangup" for r in rows(path, "APIlogs") if r[3] in uids)

    later = sim.append_events(path, first.calls, only_events=("hangup",))
    assert later.per_table["APIlogs"] >= 6
    chosen = chosen_hangups(path)
    assert uids <= set(chosen)
    for call in first.calls:
        assert chosen[call.unique_id]["CallStatus"] == call.call_status
        assert call.answered == (call.call_status == "2")


def test_append_rows_writes_hand_made_rows(tmp_path: Path) -> None:
    path = tmp_path / "hand.db"
    ids = sim.append_rows(path, "AlternativeAPIlogs", [
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
    assert sim.append_rows(path, "AlternativeAPIlogs", [(None, "x", None, None, None)]) == [4]
    con = sqlite3.connect(path)
    try:
        sql = con.execute(
            "SELECT sql FROM sqlite_master WHERE name='AlternativeAPIlogs'").fetchone()
    finally:
        con.close()
    assert sql[0] == API_DDL.format("AlternativeAPIlogs")
    with pytest.raises(ValueError):
        sim.append_rows(path, "APIlogs; DROP TABLE x", [])


def test_simulate_fleet(tmp_path: Path) -> None:
    summaries = sim.simulate_fleet(tmp_path, enterprises=["0327", "acme"], days=2, calls_per_day=40,
                                   end_date=DAY, seed=3)
    assert [(s.enterprise, s.day) for s in summaries] == [
        ("0327", DAY - timedelta(days=1)), ("0327", DAY),
        ("acme", DAY - timedelta(days=1)), ("acme", DAY),
    ]
    uids: set[str] = set()
    for s in summaries:
        assert s.path == sim.day_file_path(tmp_path, s.enterprise, s.day) and s.path.exists()
        assert s.calls == 40
        chosen = chosen_hangups(s.path)
        assert {b["Token"] for b in chosen.values()} == {sim.token_for(s.enterprise)}
        assert not uids & set(chosen)
        uids |= set(chosen)
        assert all(r[1].startswith(s.day.isoformat()) for r in rows(s.path, "APIlogs"))
    again = sim.simulate_fleet(tmp_path / "again", enterprises=["0327", "acme"], days=2,
                               calls_per_day=40, end_date=DAY, seed=3)
    assert [all_tables(a.path) for a in again] == [all_tables(s.path) for s in summaries]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        sim.write_day_file(
            tmp_path / "x.db", token=TOKEN, day=DAY, calls=1, seed=1, dirty_share=1.0)
