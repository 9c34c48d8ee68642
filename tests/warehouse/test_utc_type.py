"""``UtcDateTime``: every stored moment reads back as an aware UTC datetime, on both databases,
through the schema's columns, aggregates over them and typed raw SQL alike."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, func, insert, select, text, type_coerce

from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.schema import calls, sync_runs
from asterisk_pipeline.warehouse.utc import UtcDateTime

MINSK = timezone(timedelta(hours=3))
MOMENT = datetime(2025, 7, 3, 10, 13, 21, 500_000, tzinfo=MINSK)  # 07:13:21.5 UTC


def _run(started: datetime, finished: datetime) -> dict[str, object]:
    return {"enterprise_id": "0327", "flow": "live", "started_at": started, "finished_at": finished,
            "duration_s": 1.0, "status": "success"}


def test_every_read_is_aware_utc(engine: Engine):
    naive_utc = datetime(2025, 7, 3, 8, 0, 0)  # naive: taken as UTC, as the warehouse stores it
    with write_transaction(engine) as conn:
        conn.execute(insert(sync_runs), [_run(MOMENT, MOMENT), _run(naive_utc, naive_utc)])
    expected = [MOMENT.astimezone(UTC), naive_utc.replace(tzinfo=UTC)]
    with engine.connect() as conn:
        through_column = list(conn.execute(select(sync_runs.c.started_at).order_by(sync_runs.c.id)).scalars())
        newest = conn.execute(select(func.max(sync_runs.c.finished_at))).scalar_one()
        raw = list(conn.execute(
            text("SELECT started_at FROM sync_runs ORDER BY id").columns(started_at=UtcDateTime())
        ).scalars())
        coerced = list(conn.execute(
            select(type_coerce(text("started_at"), UtcDateTime())).select_from(sync_runs).order_by(sync_runs.c.id)
        ).scalars())
        # a bound aware time in another zone compares as the same instant
        found = conn.execute(
            select(func.count()).select_from(sync_runs).where(sync_runs.c.started_at == MOMENT)
        ).scalar_one()
    for got in (through_column, raw, coerced):
        assert got == expected
        assert all(t.utcoffset() == timedelta(0) for t in got), got
    assert newest == expected[1] and newest.utcoffset() == timedelta(0)
    assert found == 1


def test_none_stays_none_and_a_server_default_reads_aware(engine: Engine):
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO enterprises (number) VALUES ('0327')"))
        conn.execute(text(
            "INSERT INTO calls (unique_id, enterprise_id, data_source) VALUES ('1.1', '0327', 'live')"
        ))
    with engine.connect() as conn:
        start, created = conn.execute(select(calls.c.start_time, calls.c.created_at)).one()
    assert start is None
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
