"""What a hostile import left in the warehouse, read the same way on SQLite and PostgreSQL, and
the checks every import must pass whatever its input (SPEC §3, §4.1–4.3)."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from asterisk_pipeline.warehouse.schema import (
    call_events,
    call_legs,
    call_participants,
    calls,
    download_sync,
    rejected_events,
    sync_runs,
)
from tests.support.hostile.generate import DAY, TABLES, HostileFile, window_utc

ENTERPRISE = Enterprise("0327", name="VOS", host="vos.lan", secret="s3cret-token")
THREE_DAYS = int(timedelta(days=3).total_seconds())


def add_enterprise(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_enterprise(conn, ENTERPRISE)


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC, PostgreSQL aware: one form for comparing."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Stored:
    """One enterprise's rows after an import, keyed by natural keys."""

    events: dict[int, tuple[Any, ...]]  # source_id → unique_id, type, time, status, delivered, body
    rejects: dict[int, tuple[Any, ...]]  # source_id → event_type, unique_id, raw_text, reason
    calls: dict[str, tuple[Any, ...]]  # unique_id → start, end, duration, type, status, answered, …
    legs: list[tuple[Any, ...]]
    participants: list[tuple[Any, ...]]


def stored(engine: Engine, flow: str) -> Stored:
    ent = ENTERPRISE.number
    table = TABLES[flow]
    e, r, c, leg, p = call_events.c, rejected_events.c, calls.c, call_legs.c, call_participants.c
    with engine.connect() as conn:
        events = {
            row.source_id: (row.unique_id, row.event_type, utc(row.event_timestamp), row.status,
                            row.delivered, row.raw_data)
            for row in conn.execute(select(call_events).where(
                e.enterprise_id == ent, e.file_date == DAY, e.source_table == table))
        }
        rejects = {
            row.source_id: (row.event_type, row.unique_id, row.raw_text, row.reason)
            for row in conn.execute(select(rejected_events).where(
                r.enterprise_id == ent, r.file_date == DAY, r.source_table == table))
        }
        call_rows = {
            row.unique_id: (utc(row.start_time), utc(row.end_time), row.duration, row.call_type,
                            row.call_status, row.is_answered, row.phone_number, row.trunk,
                            row.main_extension, row.extensions_count, utc(row.answered_at),
                            row.answered_by, row.final_extension, row.leg_count, row.data_source,
                            row.raw_data)
            for row in conn.execute(select(calls).where(c.enterprise_id == ent))
        }
        legs = sorted(
            (row.unique_id, row.role, row.call_type, row.call_status, row.phone_number,
             utc(row.start_time), utc(row.end_time))
            for row in conn.execute(select(call_legs).where(leg.enterprise_id == ent))
        )
        participants = sorted(
            ((row.unique_id, row.extension, row.participant_status, row.ring_order,
              utc(row.dial_start), utc(row.answer_time), utc(row.hangup_time))
             for row in conn.execute(
                 select(calls.c.unique_id, call_participants)
                 .join(calls, calls.c.id == p.call_id).where(c.enterprise_id == ent))),
            key=repr,
        )
    return Stored(events, rejects, call_rows, legs, participants)


def runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(
            select(sync_runs).where(sync_runs.c.enterprise_id == ENTERPRISE.number).order_by(sync_runs.c.id)))


def download_state(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(download_sync).where(download_sync.c.enterprise_id == ENTERPRISE.number)).one_or_none()


# ---------------------------------------------------------------------------------------------
# Checks


def one_json_line(result: subprocess.CompletedProcess) -> dict[str, Any]:
    """Exactly one JSON object on stdout, exit code 0/1 as its status says, no traceback."""
    where = f"exit {result.returncode}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-4000:]}"
    assert "Traceback" not in result.stderr, where
    lines = result.stdout.splitlines()
    assert len(lines) == 1, where
    summary = json.loads(lines[0])
    assert isinstance(summary, dict), where
    assert summary["status"] in ("success", "failed"), where
    assert result.returncode == (0 if summary["status"] == "success" else 1), where
    assert ENTERPRISE.secret not in result.stdout + result.stderr
    return summary


def check_recorded(engine: Engine, made: HostileFile, summary: dict[str, Any], nth: int = 1) -> None:
    """The sync has its row in sync_runs (status, kind, the same counts) and download_sync."""
    recorded = runs(engine)
    assert len(recorded) == nth, [tuple(r) for r in recorded]
    run = recorded[-1]
    assert (run.flow, run.file_date, run.source_table) == (made.flow, DAY, TABLES[made.flow])
    assert run.status == summary["status"]
    assert run.error_kind == summary.get("error_kind")
    for name in ("rows_read", "new_calls", "new_events", "duplicates", "rejected"):
        assert getattr(run, name) == summary[name], name
    state = download_state(engine)
    assert state is not None
    if summary["status"] == "success":
        assert state.last_successful_sync is not None
    else:
        assert state.last_failed_sync is not None and state.last_error_message


def check_accounting(summary: dict[str, Any], now: Stored) -> None:
    """Every source row read ends as exactly one of event, duplicate or reject."""
    assert summary["rows_read"] == summary["new_events"] + summary["duplicates"] + summary["rejected"]
    assert not set(now.events) & set(now.rejects)
    assert len(now.events) == summary["new_events"]
    assert len(now.rejects) == summary["rejected"]
    assert all(reject[3] for reject in now.rejects.values()), "a reject without its reason"


def check_rows(made: HostileFile, summary: dict[str, Any], now: Stored) -> None:
    """Each row's fate as SPEC has it; good rows kept with their times; calls with theirs."""
    expected = made.expected
    assert summary["rows_read"] == len(expected.rows), (summary, len(expected.rows))
    assert set(now.events) | set(now.rejects) <= set(expected.rows), "rows that are not in the file"
    wrong = {}
    for source_id, outcome in expected.rows.items():
        fate = "event" if source_id in now.events else "reject" if source_id in now.rejects else "lost"
        if fate == "lost" or (outcome != "either" and fate != outcome):
            wrong[source_id] = (outcome, fate, now.rejects.get(source_id, (None,) * 4)[3])
    assert not wrong, f"rows whose fate is not SPEC's (id: expected, got, reason): {wrong}"
    times = {
        source_id: (now.events[source_id][2], when)
        for source_id, when in expected.event_times.items()
        if now.events[source_id][2] != when
    }
    assert not times, f"event_timestamp (id: stored, expected): {times}"
    for uid, want in expected.calls.items():
        assert uid in now.calls, f"call {uid!r} missing; calls: {sorted(now.calls)}"
        got = now.calls[uid][:3]
        assert got == (want.start, want.end, want.duration), f"call {uid}: stored {got}, expected {want}"
    statuses = {uid: (now.calls[uid][4], status) for uid, status in expected.call_status.items()
                if now.calls[uid][4] != status}
    assert not statuses, f"call_status (uid: stored, expected): {statuses}"


def check_plausible(now: Stored) -> None:
    """No stored time is implausible for the file's date; durations are NULL or 0 ≤ d < 3 days."""
    low, high = window_utc()
    found: list[Any] = [("event", sid, row[2]) for sid, row in now.events.items()]
    for uid, row in now.calls.items():
        found += [("call start", uid, row[0]), ("call end", uid, row[1]), ("answered_at", uid, row[10])]
        assert row[2] is None or 0 <= row[2] < THREE_DAYS, ("duration", uid, row[2])
    found += [("leg", leg[0], t) for leg in now.legs for t in leg[5:]]
    found += [("participant", p[0], t) for p in now.participants for t in p[4:]]
    bad = [item for item in found if item[2] is not None and not low <= item[2] < high]
    assert not bad, f"implausible stored times: {bad}"


def check_nothing_imported(now: Stored) -> None:
    """A file that cannot be read imports nothing (SPEC §4.1)."""
    assert not now.events and not now.rejects and not now.calls, now
