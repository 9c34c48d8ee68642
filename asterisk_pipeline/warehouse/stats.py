"""SPEC §4.5 headline figures: calls, answered share and average duration."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Date, case, cast, func, select

from .schema import calls


@dataclass(frozen=True)
class CallStats:
    enterprise_id: str
    data_source: str
    day: str | None  # UTC date of start_time, when grouped by day
    calls: int
    answered: int
    answered_share: float
    avg_duration: float | None


def call_stats(conn: Connection, *, by_day: bool = False) -> list[CallStats]:
    """Per enterprise and data source (and per UTC day of start_time with ``by_day``)."""
    answered = func.sum(case((calls.c.is_answered, 1), else_=0))
    columns = [calls.c.enterprise_id, calls.c.data_source]
    if by_day:
        # UTC calendar day; SQLite keeps times as naive UTC text, so date() reads it directly.
        day = (
            func.date(calls.c.start_time)
            if conn.dialect.name == "sqlite"
            else cast(func.timezone("UTC", calls.c.start_time), Date)
        )
        columns.append(day.label("day"))
    query = (
        select(*columns, func.count().label("calls"), answered.label("answered"),
               func.avg(calls.c.duration).label("avg_duration"))
        .group_by(*columns)
        .order_by(*columns)
    )
    result = []
    for row in conn.execute(query):
        total = int(row.calls)
        answered_count = int(row.answered or 0)
        result.append(
            CallStats(
                enterprise_id=row.enterprise_id,
                data_source=row.data_source,
                day=str(row.day) if by_day and row.day is not None else None,
                calls=total,
                answered=answered_count,
                answered_share=answered_count / total if total else 0.0,
                avg_duration=float(row.avg_duration) if row.avg_duration is not None else None,
            )
        )
    return result
