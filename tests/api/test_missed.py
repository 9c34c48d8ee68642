"""``GET /missed`` in-process on both databases (SPEC §4.7, §5): filters, keyset pages that never
skip or repeat a row while new ones arrive, the streamed CSV, and a 4xx for every bad input."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from asterisk_pipeline.api.app import create_app
from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.api import NOWHERE
from tests.support.missed import EXPECTED, FIRST, SECOND, load_missed_days, missed_day_files

VOS = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375001")
RADIS = Enterprise("0100", "Radis1", "radis.vochi.lan", "secret-100", "10.88.10.14", "375002")


@pytest.fixture
def api(engine: Engine, db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, VOS)
        upsert_enterprise(conn, RADIS)
    settings = Settings(home=tmp_path, database_url=db_url, dagster_url=NOWHERE)
    load_missed_days(engine, Fleet.load(settings), VOS, missed_day_files(tmp_path), [FIRST, SECOND])
    with TestClient(create_app(settings, DagsterClient(NOWHERE, timeout_s=2))) as client:
        yield client


def test_rows_and_filters(api: TestClient) -> None:
    page = api.get("/missed").json()
    got = [(r["unique_id"], r["phone_number"], r["status"], r["resolved_by"], r["seconds_to_resolution"],
            r["callback_attempts"]) for r in page["missed"]]
    assert got == [(e[0], e[1], e[2], e[4], e[5], e[6]) for e in EXPECTED]
    assert page["count"] == len(EXPECTED) and page["next"] is None
    called = api.get("/missed", params={"status": "called_back", "enterprise_id": "0327"}).json()["missed"]
    assert [r["unique_id"] for r in called] == [EXPECTED[0][0]]
    expired = api.get("/missed", params={"status": "expired"}).json()["missed"]
    assert {r["unique_id"] for r in expired} == {e[0] for e in EXPECTED if e[2] == "expired"}
    second = api.get("/missed", params={"date_from": "2025-07-04", "date_to": "2025-07-04"}).json()["missed"]
    assert [r["unique_id"] for r in second] == [EXPECTED[-1][0]]
    assert api.get("/missed", params={"enterprise_id": "0100"}).json()["missed"] == []


def test_pages_never_skip_or_repeat_a_row_while_new_ones_arrive(api: TestClient, engine: Engine, tmp_path: Path) -> None:
    first = api.get("/missed", params={"limit": 2}).json()
    assert first["count"] == 2 and first["next"]
    # another enterprise's day arrives between two pages: its rows sort after (or among) them
    load_missed_days(engine, Fleet.load(Settings(home=tmp_path)), RADIS, missed_day_files(tmp_path / "r"), [SECOND])
    seen = [r["call_id"] for r in first["missed"]]
    after = first["next"]
    while after:
        page = api.get("/missed", params={"limit": 2, "next": after}).json()
        seen += [r["call_id"] for r in page["missed"]]
        after = page["next"]
    everything = [r["call_id"] for r in api.get("/missed", params={"limit": 1000}).json()["missed"]]
    assert len(seen) == len(set(seen))
    assert seen == everything  # the new rows sort after the first page: all of them are reached


def test_csv_streams_every_matching_row(api: TestClient) -> None:
    answer = api.get("/missed", params={"format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["unique_id"] for r in rows] == [e[0] for e in EXPECTED]
    assert [r["status"] for r in rows] == [e[2] for e in EXPECTED]
    assert rows[0]["resolved_by"] == "305" and rows[2]["resolved_at"] == ""


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"date_from": "2025-02-30"}, 422, "date_from"),
    ({"date_from": "03.07.2025"}, 422, "date_from"),
    ({"date_from": "2025-07-04", "date_to": "2025-07-03"}, 422, "date_from"),
    ({"status": "missed"}, 422, "status"),
    ({"limit": 0}, 422, "limit"),
    ({"limit": "many"}, 422, "limit"),
    ({"next": "not-a-cursor"}, 422, "next"),
    ({"enterprise_id": "../x"}, 422, "enterprise_id"),
    ({"format": "xlsx"}, 422, "format"),
    ({"enterprise_id": "9999"}, 404, None),
])
def test_bad_input_is_a_clear_4xx_in_the_one_shape(api: TestClient, params: dict, status: int, field: str | None) -> None:
    answer = api.get("/missed", params=params)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body["detail"], str) and body["detail"]
    if field is not None:
        assert any(e["loc"][-1] == field for e in body["errors"]), body


def test_a_cursor_is_refused_with_other_filters_or_from_another_endpoint(api: TestClient) -> None:
    """The cursor names a position in one listing: with other filters it would skip or repeat rows."""
    cursor = api.get("/missed", params={"limit": 1}).json()["next"]
    assert cursor
    other = api.get("/missed", params={"limit": 1, "status": "open", "next": cursor})
    assert other.status_code == 422 and other.json()["errors"][0]["loc"][-1] == "next"
    calls_cursor = api.get("/calls", params={"limit": 1}).json()["next"]
    assert calls_cursor
    assert api.get("/missed", params={"next": calls_cursor}).status_code == 422


def test_an_enterprise_switched_off_keeps_its_missed_calls_readable(api: TestClient, engine: Engine) -> None:
    """As GET /calls: a disabled enterprise's history can still be exported; only a number
    neither in enterprises nor in calls is a 404."""
    with write_transaction(engine) as conn:
        conn.execute(text("UPDATE enterprises SET active = :off WHERE number = '0327'"), {"off": False})
    answer = api.get("/missed", params={"enterprise_id": "0327"})
    assert answer.status_code == 200, answer.text
    assert [r["unique_id"] for r in answer.json()["missed"]] == [e[0] for e in EXPECTED]
