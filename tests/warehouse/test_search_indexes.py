"""The searches of ``GET /calls`` are index lookups on PostgreSQL (migration 0009 and 0006): the
planner's own choice on a warehouse of 60,000 calls (ANALYZEd), read with EXPLAIN on exactly the
statements ``search_calls`` sends — no sequential scan of calls or call_participants."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from asterisk_pipeline.numbers import number_key
from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.search import CallFilter, search_calls
from asterisk_pipeline.warehouse.stats import DayRange

_FILL = (
    ("INSERT INTO calls (unique_id, enterprise_id, start_time, phone_number, phone_key, call_type, is_answered,"
     " data_source) SELECT '1751500000.' || i, lpad((1000 + i % 30)::text, 4, '0'),"
     " timestamptz '2025-05-01 00:00:00+00' + i * interval '150 seconds', '+37529' || (1000000 + i * 7919 % 20000),"
     " '29' || (1000000 + i * 7919 % 20000), (i % 3)::text, i % 2 = 0, 'downloaded'"
     " FROM generate_series(1, 60000) i"),
    ("INSERT INTO call_participants (call_id, extension, participant_status, ring_order)"
     " SELECT id, (100 + id % 60)::text, 'answered', 1 FROM calls"
     " UNION ALL SELECT id, (100 + (id + 7) % 60)::text, 'no_answer', 2 FROM calls"),
    "ANALYZE calls",
    "ANALYZE call_participants",
)


@pytest.fixture
def big(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        for sql in _FILL:
            conn.execute(text(sql))
    yield engine
    engine.dispose()


def _plans(engine: Engine, wanted: CallFilter) -> list[str]:
    """EXPLAIN of every statement one page of the search sends."""
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", grab)
    with engine.connect() as conn:
        page = search_calls(conn, wanted, 100)
    event.remove(engine, "before_cursor_execute", grab)
    assert page.rows, "the search found nothing: the plan of an empty answer proves little"
    with engine.connect() as conn:
        return ["\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params)) for sql, params in sent]


def _filters(engine: Engine) -> dict[str, CallFilter]:
    """Searches for a number, an extension and an enterprise that are in the data."""
    with engine.connect() as conn:
        ent, phone = conn.execute(text("SELECT enterprise_id, phone_number FROM calls WHERE id = 12345")).one()
        extension = conn.execute(text("SELECT min(extension) FROM call_participants WHERE call_id = 12345")).scalar_one()
    key = number_key(phone)
    return {
        "number": CallFilter(phone_key=key),
        "number+enterprise": CallFilter(enterprises=(ent,), phone_key=key),
        "number+days": CallFilter(phone_key=key, days=DayRange(date(2025, 5, 1), date(2025, 8, 1))),
        "extension+enterprise": CallFilter(enterprises=(ent,), extension=extension),
        "extension+more": CallFilter(enterprises=(ent,), extension=extension, answered=False,
                                     days=DayRange(date(2025, 5, 1), None)),
        "extension": CallFilter(extension=extension),
        "enterprise+days": CallFilter(enterprises=(ent,), days=DayRange(date(2025, 5, 20), date(2025, 5, 21))),
    }


@pytest.mark.parametrize("name", ["number", "number+enterprise", "number+days", "extension+enterprise",
                                  "extension+more", "extension", "enterprise+days"])
def test_searches_use_indexes(big: Engine, name: str) -> None:
    for plan in _plans(big, _filters(big)[name]):
        assert "Seq Scan" not in plan, plan
        assert "Index" in plan, plan
