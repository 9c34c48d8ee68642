"""``GET /calls``, ``/calls/{enterprise}/{unique_id}`` and ``/stats`` in-process on both
databases, against calls imported from day files (tests/support/search.py): every filter, keyset
pages while calls arrive, the CSV, and bad input answered 4xx in the one error shape."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from asterisk_pipeline.api.app import create_app
from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import upgrade
from tests.support import search
from tests.support.api import NOWHERE
from tests.support.pg import database_url, new_pg_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[search.Warehouse]:
    """The search warehouse, built once per database for the module's read-only tests."""
    work = tmp_path_factory.mktemp(f"search-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{work / 'central.db'}"
        yield _built(url, work)
        return
    with new_pg_database("ap_search") as name:
        yield _built(database_url(name), work)


def _built(url: str, work: Path) -> search.Warehouse:
    engine = make_engine(url)
    upgrade(engine)
    try:
        return search.build(engine, url, work)
    finally:
        engine.dispose()


def _client(warehouse: search.Warehouse) -> TestClient:
    settings = search.settings(warehouse.home, warehouse.db_url).model_copy(update={"dagster_url": NOWHERE})
    return TestClient(create_app(settings, DagsterClient(NOWHERE, timeout_s=2)))


def _all_pages(api: TestClient, params: dict[str, Any], limit: int) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    cursor = None
    while True:
        answer = api.get("/calls", params={**params, "limit": limit, **({"next": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["count"] == len(page["calls"]) <= limit
        found += [(c["enterprise_id"], c["unique_id"]) for c in page["calls"]]
        cursor = page["next"]
        if cursor is None:
            return found
        assert page["count"] == limit


def _filters(calls: list[search.Stored]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every filter alone (each value present in the data), and some together."""
    busiest = max({p for c in calls for p in c.parties}, key=lambda p: sum(p in c.parties for c in calls))
    outside = next(p for c in calls for p in sorted(c.parties) if len(p) > 5)  # a forwarding target (mobile)
    shapes = sorted({c.shape for c in calls if c.shape})
    assert {"transfer_attended", "followme", "unanswered", "outgoing", "internal"} <= set(shapes)
    one = [
        {}, {"enterprise_id": "0327"}, {"enterprise_id": ["0327", "0200"]}, {"enterprise_id": "0200"},
        {"number": search.CUSTOMER}, {"number": "80291112233"}, {"number": "5551234"}, {"number": "555-12-34"},
        {"number": "+375 25"}, {"extension": busiest}, {"extension": outside}, {"extension": "201"},
        {"date_from": "2025-07-04"}, {"date_to": "2025-07-03"}, {"date_from": "2025-07-04", "date_to": "2025-07-04"},
        {"direction": "0"}, {"direction": "outgoing"}, {"direction": "internal"},
        {"answered": "true"}, {"answered": "false"},
        *({"shape": shape} for shape in shapes),
    ]
    together = [
        {"number": search.CUSTOMER, "direction": "incoming", "answered": "false"},
        {"extension": busiest, "answered": "false", "date_from": "2025-07-04"},
        {"enterprise_id": "0200", "date_to": "2025-07-03", "direction": "0", "shape": "followme"},
        {"enterprise_id": ["0200", "0327"], "date_from": "2025-07-04", "date_to": "2025-07-05", "answered": "true"},
    ]
    return one, together


def test_every_filter_finds_exactly_the_matching_calls(warehouse: search.Warehouse) -> None:
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    assert len(calls) == 2 * 2 * 40 + 7
    with _client(warehouse) as api:
        one, together = _filters(calls)
        for params in one + together:
            want = search.expected(calls, params)
            assert _all_pages(api, params, limit=7) == want, params
            if params in one and params.get("number") != "+375 25":
                assert want, f"{params} selects nothing: a weak case"
        spellings = _all_pages(api, {"number": search.CUSTOMER}, 100)
        assert {uid for _, uid in spellings} >= {f"1751700000.{n}" for n in (1, 2, 3, 4)}  # all four spellings


def test_a_pbx_local_day_is_its_own_zone_s_day(warehouse: search.Warehouse) -> None:
    """0200's day 2025-07-04 starts ten hours before UTC midnight; 0327's three hours before."""
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    with _client(warehouse) as api:
        rows = api.get("/calls", params={"date_from": "2025-07-04", "date_to": "2025-07-04", "limit": 1000}).json()
    days = {(r["enterprise_id"], r["unique_id"]): r["start_time"] for r in rows["calls"]}
    assert {e for e, _ in days} == {"0200", "0327"}
    assert all(c.day == date(2025, 7, 4) for c in calls if (c.enterprise_id, c.unique_id) in days)
    assert any(c.start and c.start.date() != c.day for c in calls if (c.enterprise_id, c.unique_id) in days)


def test_csv_holds_every_matching_call_defused(warehouse: search.Warehouse) -> None:
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    with _client(warehouse) as api:
        answer = api.get("/calls", params={"format": "csv", "enterprise_id": "0327", "limit": 3})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [(r["enterprise_id"], r["unique_id"]) for r in rows] == search.expected(calls, {"enterprise_id": "0327"})
        by_uid = {r["unique_id"]: r for r in rows}
        assert by_uid["1751700000.6"]["phone_number"] == "'" + search.FORMULA  # shown as text, never evaluated
        assert by_uid["1751700000.1"]["phone_number"] == "+375291112233"  # a plain number stays as it is
        assert by_uid["1751700000.7"]["start_time"] == ""  # unusable times: empty, and listed last
        assert rows[-1]["unique_id"] == "1751700000.7"
        assert "s3cr3t" not in answer.text and "token" not in rows[0]


def test_one_conversation_is_what_calls_show_json_prints(warehouse: search.Warehouse) -> None:
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    transfer = next(c for c in calls if c.enterprise_id == "0200" and c.shape == "transfer_attended")
    with _client(warehouse) as api:
        by_primary = api.get(f"/calls/0200/{transfer.unique_id}")
        assert by_primary.status_code == 200
        legs = [leg["unique_id"] for leg in by_primary.json()["legs"] if leg["role"] == "leg"]
        assert legs and api.get(f"/calls/0200/{legs[-1]}").json() == by_primary.json()
        missing = api.get("/calls/0200/1.0")
        assert missing.status_code == 404 and set(missing.json()) == {"detail", "errors"}
    shown = subprocess.run(
        [sys.executable, "-m", "asterisk_pipeline.cli", "calls", "show", legs[-1], "--enterprise", "0200", "--json",
         "--db", warehouse.db_url],
        capture_output=True, text=True, check=True, env={"ASTERISK_HOME": str(warehouse.home), "PATH": "/usr/bin:/bin",
                                                         "ASTERISK_PBX_TIMEZONE": "Europe/Minsk"})
    assert json.loads(shown.stdout) == by_primary.json()


def test_stats_for_a_range_by_day_and_by_extension(warehouse: search.Warehouse) -> None:
    engine = make_engine(warehouse.db_url)
    calls = search.stored_calls(engine)
    engine.dispose()
    with _client(warehouse) as api:
        days = api.get("/stats", params={"by": "day", "enterprise_id": "0200"}).json()
        assert days["by"] == "day"
        per_day = {r["day"]: r["calls"] for r in days["rows"]}
        assert per_day == {str(d): sum(1 for c in calls if c.enterprise_id == "0200" and c.day == d)
                           for d in {c.day for c in calls if c.enterprise_id == "0200"}}
        ext = api.get("/stats", params={"by": "extension", "enterprise_id": "0327", "date_from": "2025-07-05"}).json()
        rang = {r["extension"]: r["rang"] for r in ext["rows"]}
        hand = [c for c in calls if c.enterprise_id == "0327" and c.day == date(2025, 7, 5)]
        assert rang == {p: sum(p in c.parties for c in hand) for c in hand for p in c.parties}
        fleet = api.get("/stats").json()
        assert sum(r["calls"] for r in fleet["rows"]) == len(calls) and fleet["by"] == "enterprise"
        assert api.get("/stats", params={"by": "week"}).status_code == 422
        assert api.get("/stats", params={"date_from": "2025-07-05", "date_to": "2025-07-04"}).status_code == 422
        assert api.get("/stats", params={"enterprise_id": "9999"}).status_code == 404


@pytest.mark.parametrize(("params", "field"), [
    ({"next": "bm90LWEtY3Vyc29y"}, "next"),  # base64 of "not-a-cursor"
    ({"next": "WzEsbnVsbCwtNSwiYWJjIl0"}, "next"),  # [1,null,-5,"abc"]: a forged position
    ({"next": "%%%"}, "next"),
    ({"next": "x" * 201}, "next"),
    ({"date_from": "2025-07-05", "date_to": "2025-07-01"}, "date_from"),
    ({"date_from": "2025/07/05"}, "date_from"),
    ({"date_from": "1751700000"}, "date_from"),
    ({"direction": "sideways"}, "direction"),
    ({"direction": "3"}, "direction"),
    ({"shape": "blob"}, "shape"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"answered": "maybe"}, "answered"),
    ({"number": "call me"}, "number"),
    ({"number": "1" * 65}, "number"),
    ({"enterprise_id": "../x"}, "enterprise_id"),
    ({"format": "xlsx"}, "format"),
])
def test_bad_input_is_a_422_naming_the_field(warehouse: search.Warehouse, params: dict[str, str], field: str) -> None:
    with _client(warehouse) as api:
        answer = api.get("/calls", params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str)
    assert any(field in e["loc"] for e in body["errors"]), body


def test_a_cursor_of_another_search_or_an_unknown_enterprise_is_refused(warehouse: search.Warehouse) -> None:
    with _client(warehouse) as api:
        cursor = api.get("/calls", params={"limit": 2}).json()["next"]
        assert cursor
        other = api.get("/calls", params={"limit": 2, "next": cursor, "answered": "true"})
        assert other.status_code == 422 and "another search" in other.json()["detail"]
        unknown = api.get("/calls", params={"enterprise_id": ["0327", "9999"]})
        assert unknown.status_code == 404 and "9999" in unknown.json()["detail"]
        assert api.get("/calls", params={"enterprise_id": "9999", "format": "csv"}).status_code == 404


def test_pages_never_skip_or_repeat_while_calls_arrive(engine: Engine, db_url: str, tmp_path: Path) -> None:
    """Between pages, days are imported: one newer than everything, one older than the cursor,
    one interleaved. Every call stored before the first page is listed exactly once, in order."""
    fleet_settings = search.settings(tmp_path, db_url)
    fleet = Fleet.load(fleet_settings)
    vos = Enterprise("0327", "VOS", "vos.lan", "s3cr3t", None, token_for("0327"))
    from asterisk_pipeline.warehouse.db import write_transaction
    from asterisk_pipeline.warehouse.registry import upsert_enterprise
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, vos)

    def load(day: date, seed: int, start_id: int) -> None:
        path = write_day_file(tmp_path / f"{seed}" / f"Listen_AMI_{day}.db", token=token_for("0327"), day=day,
                              calls=25, seed=seed, dirty_share=0.0, start_id=start_id).path
        assert import_day_file(engine, fleet, vos, LocalDayFile(path, Flow.HISTORY, day)).ok

    load(date(2025, 7, 3), 1, 10**6)
    load(date(2025, 7, 5), 2, 2 * 10**6)
    before = [(c.enterprise_id, c.unique_id) for c in search.stored_calls(engine)]
    arrivals = [(date(2025, 7, 6), 3, 3 * 10**6), (date(2025, 7, 1), 4, 4 * 10**6), (date(2025, 7, 4), 5, 5 * 10**6),
                (date(2025, 7, 5), 6, 6 * 10**6)]
    warehouse = search.Warehouse(db_url, tmp_path)
    seen: list[tuple[str, str]] = []
    starts: list[str] = []
    with _client(warehouse) as api:
        cursor = None
        while True:
            page = api.get("/calls", params={"limit": 9, **({"next": cursor} if cursor else {})}).json()
            seen += [(c["enterprise_id"], c["unique_id"]) for c in page["calls"]]
            starts += [c["start_time"] for c in page["calls"]]
            cursor = page["next"]
            if cursor is None:
                break
            if arrivals:
                load(*arrivals.pop(0))
    assert not arrivals, "the listing ended before every arrival was imported"
    assert len(seen) == len(set(seen)), "a call was listed twice"
    assert set(before) <= set(seen), "a call stored before the first page was skipped"
    assert [s for s in starts if s] == sorted((s for s in starts if s), reverse=True)
    after = [(c.enterprise_id, c.unique_id) for c in search.stored_calls(engine)]
    assert seen == [k for k in after if k in set(seen)]  # the store's own order
    assert len(seen) > len(before)  # arrivals older than the cursor were listed too


def test_inputs_at_the_edges_are_4xx_never_5xx(warehouse: search.Warehouse) -> None:
    """Days at the ends of the calendar, a NUL byte (PostgreSQL text cannot hold one), a cursor
    whose moment overflows when read in UTC."""
    import base64

    with _client(warehouse) as api:
        mark = api.get("/calls", params={"limit": 1}).json()["next"]
        fingerprint = json.loads(base64.urlsafe_b64decode(mark + "=" * (-len(mark) % 4)))[3]
        forged = base64.urlsafe_b64encode(json.dumps([1, "0001-01-01T00:00:00+14:00", 5, fingerprint]).encode()).decode()
        for params in ({"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}, {"extension": "15\x001"},
                       {"next": forged}):
            assert api.get("/calls", params=params).status_code == 422, params
        assert api.get("/stats", params={"date_from": "0001-01-01"}).status_code == 422
        assert api.get("/calls/0327/1751700000.1%00").status_code == 422
