"""Database errors raised inside the bulk COPY end the sync as a recorded ``database`` failure
(SPEC §4.1): the driver raises them outside SQLAlchemy's wrapping, on the writer thread."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations import shapes
from tests.support.conversations.shapes import Pbx
from tests.support.factories import append, create_day_file

ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327")
DAY = date(2025, 7, 3)


def _day_file(tmp_path: Path, calls: int = 40) -> Path:
    pbx = Pbx()
    for i in range(calls):
        shapes.answered_incoming(pbx, i * 3.0, "375291110001", "150")
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, pbx.sorted_rows(), "APIlogs")
    return path


@pytest.fixture
def restricted(pg_url: str) -> Iterator[tuple[Engine, Engine]]:
    """(admin engine, engine of a login role that may do everything but what a test revokes)."""
    admin = create_engine(pg_url)
    role = f"ap_limited_{uuid.uuid4().hex[:8]}"
    database = make_url(pg_url).database
    with admin.begin() as conn:
        upsert_enterprise(conn, ENT)
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT ALL ON DATABASE "{database}" TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"'))
    limited = make_engine(make_url(pg_url).set(username=role).render_as_string(hide_password=False))
    try:
        yield admin, limited
    finally:
        limited.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _recorded(admin: Engine) -> list[tuple[str, str | None, str | None]]:
    with admin.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT status, error_kind, error FROM sync_runs"))]


def _stored(admin: Engine) -> int:
    with admin.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM call_events")).scalar_one())


def test_missing_insert_privilege_during_copy_is_recorded(restricted: tuple[Engine, Engine], tmp_path: Path) -> None:
    admin, limited = restricted
    role = limited.url.username
    with admin.begin() as conn:
        conn.execute(text(f'REVOKE INSERT ON call_events FROM "{role}"'))
    fleet = Fleet.load(Settings(home=tmp_path / "home"))
    outcome = import_day_file(limited, fleet, ENT, LocalDayFile(_day_file(tmp_path), Flow.HISTORY, DAY))
    assert not outcome.ok and outcome.error_kind == "database", outcome
    assert "InsufficientPrivilege" in (outcome.error or "")
    assert [r[:2] for r in _recorded(admin)] == [("failed", "database")]
    assert _stored(admin) == 0


def test_statement_timeout_inside_copy_is_recorded(restricted: tuple[Engine, Engine], tmp_path: Path) -> None:
    """A trigger makes every row of the COPY slow; the role's statement_timeout cancels it."""
    admin, limited = restricted
    role = limited.url.username
    with admin.begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$"
        ))
        conn.execute(text("CREATE TRIGGER slow_events BEFORE INSERT ON call_events"
                          " FOR EACH ROW EXECUTE FUNCTION slow_row()"))
        conn.execute(text(f'ALTER ROLE "{role}" SET statement_timeout = \'1500ms\''))
    fleet = Fleet.load(Settings(home=tmp_path / "home"))
    outcome = import_day_file(limited, fleet, ENT, LocalDayFile(_day_file(tmp_path, calls=60), Flow.HISTORY, DAY))
    assert not outcome.ok and outcome.error_kind == "database", outcome
    assert "QueryCanceled" in (outcome.error or "")
    assert [r[:2] for r in _recorded(admin)] == [("failed", "database")]
    assert _stored(admin) == 0
