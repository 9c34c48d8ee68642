"""Issue 18, property-based: whatever a row holds, classifying it never raises, and importing a
file of such rows (the function the CLI calls) never raises and accounts for every row.

Values are "any SQLite value in any column": text with NULs and lone surrogates, bytes, integers
of any size, floats with NaN and infinities, NULL; request bodies as generated JSON objects,
nested and with odd types where the PBX writes strings.
"""
from __future__ import annotations

import itertools
import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from asterisk_pipeline.model import Event, Flow, Rejected, SourceRow
from asterisk_pipeline.normalize import classify_row
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.schema import call_events, rejected_events
from tests.support.factories import RawText, append, create_day_file
from tests.support.hostile.warehouse import ENTERPRISE, add_enterprise

TZ = ZoneInfo("Europe/Minsk")
EVENTS = ("start", "dial", "bridge", "bridge_leave", "bridge_create", "bridge_destroy", "new_callerid",
          "hangup")

# Every code point, surrogates and NUL included.
ANY_TEXT = st.text(st.characters(exclude_categories=(), include_characters="\x00\ud800\udfff"),
                   max_size=24)
TIMES = st.sampled_from(["2025-07-03 10:00:00", "2025-07-03 10:01:40", "0001-01-01 00:00:00",
                         "1900-01-01 00:00:00", "9999-12-31 23:59:59", "2025-07-05 00:00:00",
                         "2025-02-30 10:00:00", "2025-07-03T10:00:00", ""])
BIG_INTS = st.integers() | st.integers(min_value=-(2**300), max_value=2**300)
FLOATS = st.floats()  # NaN and infinities included
SQLITE_INTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
ANY_VALUE = st.one_of(st.none(), ANY_TEXT, TIMES, st.binary(max_size=24), BIG_INTS, FLOATS)

JSON_SCALARS = st.one_of(st.none(), st.booleans(), BIG_INTS, st.floats(allow_nan=False, allow_infinity=False),
                         ANY_TEXT, TIMES)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=12,
)
UIDS = st.sampled_from(["1751526000.1", "1751526000.2", "1751526001.3", "", " ", "\x00"]) | JSON_VALUES
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "Token": st.just("375001") | JSON_VALUES, "UniqueId": UIDS,
        "Phone": st.sampled_from(["+375291112233", "201", "", "<unknown>"]) | JSON_VALUES,
        "Extensions": st.lists(st.sampled_from(["201", "202", "", " 203 "]) | JSON_VALUES, max_size=3)
        | JSON_VALUES,
        "CallType": st.sampled_from([0, 1, 2, "0", "1", "2"]) | JSON_VALUES,
        "CallStatus": st.sampled_from(["2", "0", "1", "5", ""]) | JSON_VALUES,
        "StartTime": TIMES | JSON_VALUES, "EndTime": TIMES | JSON_VALUES,
        "DateReceived": TIMES | JSON_VALUES, "Trunk": st.just("0001363") | JSON_VALUES,
        "Channel": st.sampled_from(["SIP/0001363-00000001", "SIP/201-00000002",
                                    "Local/300@dialexecute-00000003;1", "Local/300@dialexecute-00000003;2"])
        | JSON_VALUES,
        "BridgeUniqueid": st.sampled_from(["b1", "b2"]) | JSON_VALUES,
        "CallerIDNum": st.sampled_from(["201", "+375291112233"]) | JSON_VALUES,
        "ConnectedLineNum": st.sampled_from(["201", "+375291112233"]) | JSON_VALUES,
        "Extra": JSON_VALUES,
    },
)


def _json_text(body: dict[str, Any], ascii_only: bool) -> str:
    return json.dumps(body, ensure_ascii=ascii_only)


def _deep(depth: int) -> str:
    return '{"Token": "1", "Deep": ' + '{"a":' * depth + "1" + "}" * depth + "}"


_OBJECTS = st.builds(_json_text, BODIES, st.booleans())
# Objects three times over: most rows of a real file are events, and only events reach the
# code that converts times and assembles calls.
REQUESTS = st.one_of(
    _OBJECTS, _OBJECTS, _OBJECTS,
    st.sampled_from([990, 1_100, 50_000]).map(_deep),
    ANY_VALUE,
    st.builds(lambda body: _json_text(body, True).encode(), BODIES),
)
ROWS = st.tuples(
    TIMES | ANY_VALUE,
    st.sampled_from(EVENTS) | ANY_VALUE,
    UIDS.map(lambda v: v if isinstance(v, str) else json.dumps(v)) | ANY_VALUE,
    REQUESTS,
    st.sampled_from(["<Response [200]>", "Timeout", "''", "ok"]) | ANY_VALUE,
)


@settings(max_examples=200, deadline=None)
@given(row_id=BIG_INTS, values=ROWS)
def test_classify_row_never_raises(row_id: int, values: tuple[Any, ...]) -> None:
    outcome = classify_row(SourceRow(row_id, *values), TZ)
    assert type(outcome) in (Event, Rejected)
    if type(outcome) is Rejected:
        assert outcome.reason


def _storable(value: Any) -> Any:
    """A value as SQLite holds it: text that is not UTF-8 as raw TEXT bytes, integers within 64
    bits (larger ones as the text a lax writer would leave)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return RawText(value.encode("utf-8", "surrogatepass"))
        return value
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None  # SQLite stores NaN as NULL
    return value


_days = itertools.count()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROWS, min_size=1, max_size=8), flow=st.sampled_from(list(Flow)))
def test_importing_any_rows_never_raises_and_accounts_for_each(
    rows: list[tuple[Any, ...]], flow: Flow, sqlite_url: str, tmp_path: Path
) -> None:
    # One warehouse for all examples; each example is its own file date (own cursor).
    day = date(2024, 1, 1) + timedelta(days=next(_days))
    path = create_day_file(tmp_path / f"ex-{day}" / f"Listen_AMI_{day}.db", tables=(flow.table,))
    append(path, [tuple(_storable(v) for v in values) for values in rows], table=flow.table)
    engine = make_engine(sqlite_url)
    try:
        add_enterprise(engine)
        settings = Settings(database_url=sqlite_url, home=tmp_path / "home", pbx_timezone=TZ.key)
        outcome = import_day_file(engine, Fleet.load(settings), ENTERPRISE, LocalDayFile(path, flow, day))
        assert outcome.status == "success", outcome.summary()
        assert outcome.rows_read == len(rows)
        assert outcome.rows_read == outcome.new_events + outcome.duplicates + outcome.rejected
        events, rejects = _stored_counts(engine, day, flow.table)
        assert (events, rejects) == (outcome.new_events, outcome.rejected)
    finally:
        engine.dispose()


def _stored_counts(engine: Engine, day: date, table: str) -> tuple[int, int]:
    with engine.connect() as conn:
        counts = []
        for stored in (call_events, rejected_events):
            counts.append(conn.execute(
                select(func.count()).select_from(stored).where(
                    stored.c.enterprise_id == ENTERPRISE.number, stored.c.file_date == day,
                    stored.c.source_table == table)).scalar_one())
    return counts[0], counts[1]
