"""SPEC §2.2 and §4, rule by rule, on the pure functions."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asterisk_pipeline.conversations import Conversation, assemble, conv_row
from asterisk_pipeline.model import Enterprise, Event, Rejected
from asterisk_pipeline.normalize import (
    canonical_json,
    classify_row,
    is_delivered,
    normalize_extensions,
    parse_local,
)
from tests.support.factories import source_row

MINSK = ZoneInfo("Europe/Minsk")
DAY = date(2025, 7, 3)
ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375001")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def event_of(id: int, name: str, uid: str, body: dict, at: str = "2025-07-03 10:00:00", status: str = "ok") -> Event:
    outcome = classify_row(source_row(id, name, uid, json.dumps(body), at=at, status=status), MINSK)
    assert isinstance(outcome, Event), outcome
    return outcome


def conversation_of(events: list[Event], tz: ZoneInfo = MINSK, data_source: str = "downloaded",
                    live_table: bool = False) -> Conversation:
    """The one conversation these events make."""
    rows = [conv_row(e, (DAY, e.source_id), live_table) for e in events]
    conversations = assemble([r for r in rows if r is not None], ENT, tz, data_source)
    assert len(conversations) == 1, conversations
    return conversations[0]


def call_from(rows: list[tuple], data_source: str = "downloaded", live_table: bool = False):
    """rows: (id, event, uid, body, DateTime[, status]) → (call, participants) of their conversation."""
    conversation = conversation_of([event_of(*spec) for spec in rows], data_source=data_source,
                                   live_table=live_table)
    assert conversation.call is not None
    return conversation.call, list(conversation.participants)


def hangup_body(**overrides):
    body = {
        "Token": "375001", "UniqueId": "1751526000.1", "Phone": "+375291112233",
        "Extensions": ["201"], "CallType": 0, "DateReceived": "2025-07-03 10:00:00",
        "StartTime": "2025-07-03 10:00:00", "EndTime": "2025-07-03 10:01:40",
        "CallStatus": "2", "Trunk": "trunk1",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


# ---------------------------------------------------------------- delivery status (§2.1)

@pytest.mark.parametrize(
    "status, delivered",
    [
        ("<Response [200]>", True), ("<Response [204]>", True), (" <Response [201]> ", True),
        ("ok", True), ("OK", True), ("Ok ", True),
        ("<Response [500]>", False), ("<Response [302]>", False), ("Timeout", False),
        ("ConnectionError(MaxRetryError())", False), ("''", False), ("", False),
        ("Error 42", False), (None, False), ("<Response [2000]>", False),
        ("<Response [2x0]>", False), ("okay", False), (200, False),
    ],
)
def test_delivered_status(status, delivered):
    assert is_delivered(status) is delivered


# ---------------------------------------------------------------- times (§4.2)

@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-07-03 10:00:00", datetime(2025, 7, 3, 10, 0, 0)),
        ("2025-07-03T10:00:00", None), ("2025-07-03 10:00", None), ("2025-07-03", None),
        ("2025-13-45 99:99:99", None), ("", None), (None, None), ("yesterday", None),
        ("2025-07-03 10:00:00.5", None), (" 2025-07-03 10:00:00", None),
        ("٢٠٢٥-07-03 10:00:00", None), (1751526000, None),
    ],
)
def test_parse_local_is_strict(value, expected):
    assert parse_local(value) == expected


def test_times_are_converted_from_pbx_zone_to_utc():
    call, _ = call_from([(5, "hangup", "1751526000.1", hangup_body())])
    assert call.start_time == utc(2025, 7, 3, 7, 0, 0)
    assert call.end_time == utc(2025, 7, 3, 7, 1, 40)
    assert call.duration == 100


def test_per_enterprise_zone_is_used():
    call = conversation_of([event_of(1, "hangup", "u", hangup_body(UniqueId="u"))], ZoneInfo("UTC")).call
    assert call is not None and call.start_time == utc(2025, 7, 3, 10, 0, 0)


def test_start_falls_back_to_date_received_then_null():
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", StartTime="", DateReceived="2025-07-03 09:59:00"))])
    assert call.start_time == utc(2025, 7, 3, 6, 59, 0)
    assert call.duration == 160
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", StartTime="bad", DateReceived=...))])
    assert call.start_time is None and call.duration is None and call.end_time is not None


def test_call_created_even_when_times_unusable():
    call, parts = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", StartTime=..., DateReceived="x", EndTime=42))])
    assert call.start_time is None and call.end_time is None and call.duration is None
    assert parts[0].hangup_time is None


def test_negative_duration_is_null_and_zero_stays_zero():
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", EndTime="2025-07-03 09:00:00"))])
    assert call.duration is None
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", EndTime="2025-07-03 10:00:00"))])
    assert call.duration == 0


# ---------------------------------------------------------------- raw values (§4.2)

@pytest.mark.parametrize("raw, expected", [(1, "1"), ("1", "1"), (0, "0"), ("2", "2"), (2.0, "2"), (None, None)])
def test_call_type_encodings(raw, expected):
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", CallType=raw))])
    assert call.call_type == expected


@pytest.mark.parametrize("status, answered", [("2", True), ("0", False), ("1", False), ("5", False), ("", False), (2, True), (" 2", False)])
def test_call_status_and_answered(status, answered):
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", CallStatus=status))])
    assert call.is_answered is answered
    assert call.call_status == (str(status) if status != "" else "")


@pytest.mark.parametrize("phone", ["", "<unknown>", "Anonymous", "+375 29 111"])
def test_phone_kept_raw(phone):
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", Phone=phone))])
    assert call.phone_number == phone


def test_absent_trunk_and_phone_are_null_and_identity_fields():
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", Trunk=..., Phone=..., CallType=2))])
    assert call.trunk is None and call.phone_number is None
    assert call.token == ENT.secret and call.asterisk_host == ENT.host
    assert call.enterprise_id == "0327" and call.data_source == "downloaded"


def test_raw_data_is_the_chosen_hangup_body_with_extra_keys():
    body = hangup_body(UniqueId="u", ExternalInitiated=True)
    call, _ = call_from([(1, "hangup", "u", body)])
    assert json.loads(call.raw_json) == body


# ---------------------------------------------------------------- extensions (§2.2)

@pytest.mark.parametrize(
    "raw, expected",
    [
        (["201", "202"], ("201", "202")), ([""], ()), ([], ()), ("201&202", ("201", "202")),
        ([" 201 ", "201", "", "202"], ("201", "202")), (None, ()), (201, ("201",)),
        ("", ()), ([" "], ()), (["202", "201"], ("202", "201")),
    ],
)
def test_normalize_extensions(raw, expected):
    assert normalize_extensions(raw) == expected


def test_extensions_from_hangup_then_main_and_count():
    call, _ = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", Extensions="203&201&203"))])
    assert call.main_extension == "203" and call.extensions_count == 2


def test_extensions_fall_back_to_dials_in_source_order():
    call, parts = call_from([
        (1, "dial", "u", {"UniqueId": "u", "Extensions": ["301", "302"]}),
        (2, "dial", "u", {"UniqueId": "u", "Extensions": "302&303"}),
        (3, "hangup", "u", hangup_body(UniqueId="u", Extensions=[""], CallStatus="2")),
    ])
    assert call.main_extension == "301" and call.extensions_count == 3
    assert [p.extension for p in parts] == ["301", "302", "303"]
    # answered, but the hangup lists no extension: no answered participant (SPEC §4.4)
    assert all(p.participant_status == "no_answer" for p in parts)


def test_no_extensions_anywhere():
    call, parts = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", Extensions=[]))])
    assert call.main_extension is None and call.extensions_count == 0 and parts == []


# ---------------------------------------------------------------- choosing a hangup (§4.2)

def test_parsable_end_time_beats_later_source_id():
    call, _ = call_from([
        (1, "hangup", "u", hangup_body(UniqueId="u", EndTime="2025-07-03 10:01:40", CallStatus="2")),
        (9, "hangup", "u", hangup_body(UniqueId="u", EndTime="", CallStatus="0")),
    ])
    assert call.call_status == "2"


def test_later_end_time_wins_then_higher_source_id():
    call, _ = call_from([
        (1, "hangup", "u", hangup_body(UniqueId="u", EndTime="2025-07-03 10:05:00", CallStatus="2")),
        (2, "hangup", "u", hangup_body(UniqueId="u", EndTime="2025-07-03 10:01:00", CallStatus="0")),
    ])
    assert call.call_status == "2"
    call, _ = call_from([
        (1, "hangup", "u", hangup_body(UniqueId="u", CallStatus="0")),
        (2, "hangup", "u", hangup_body(UniqueId="u", CallStatus="1")),
    ])
    assert call.call_status == "1"
    call, _ = call_from([
        (1, "hangup", "u", hangup_body(UniqueId="u", EndTime="x", CallStatus="0")),
        (2, "hangup", "u", hangup_body(UniqueId="u", EndTime=..., CallStatus="5")),
    ])
    assert call.call_status == "5" and call.end_time is None


def test_column_uniqueid_wins_over_body():
    ev = event_of(1, "hangup", "col.1", hangup_body(UniqueId="body.1"))
    assert ev.unique_id == "col.1"
    outcome = classify_row(source_row(1, "hangup", "", json.dumps(hangup_body(UniqueId="body.1"))), MINSK)
    assert isinstance(outcome, Event) and outcome.unique_id == "body.1"


# ---------------------------------------------------------------- participants (§4.4)

def test_participants_order_status_and_times():
    call, parts = call_from([
        (1, "dial", "u", {"UniqueId": "u", "Extensions": ["201", "202"]}, "2025-07-03 10:00:01"),
        (2, "dial", "u", {"UniqueId": "u", "Extensions": ["202"]}, "2025-07-03 10:00:09"),
        (3, "bridge", "u", {"UniqueId": "u", "CallerIDNum": "999"}, "2025-07-03 10:00:04"),
        (4, "bridge", "u", {"UniqueId": "u", "CallerIDNum": " 202 "}, "2025-07-03 10:00:05"),
        (5, "bridge", "u", {"UniqueId": "u", "CallerIDNum": "202", "x": 1}, "2025-07-03 10:00:07"),
        (6, "hangup", "u", hangup_body(UniqueId="u", Extensions=["202", "205"], CallStatus="2")),
    ])
    assert [(p.extension, p.ring_order, p.participant_status) for p in parts] == [
        ("201", 1, "no_answer"), ("202", 2, "answered"), ("205", 3, "answered"),
    ]
    # §4.4: the first dial row that targets the party, else the call start
    assert [p.dial_start for p in parts] == [utc(2025, 7, 3, 7, 0, 1)] * 2 + [call.start_time]
    assert parts[1].answer_time == utc(2025, 7, 3, 7, 0, 5)
    assert parts[0].answer_time is None and parts[2].answer_time is None
    assert all(p.hangup_time == call.end_time for p in parts)


def test_unanswered_call_has_no_answered_participant_and_dial_start_falls_back():
    call, parts = call_from([(1, "hangup", "u", hangup_body(UniqueId="u", Extensions=["201"], CallStatus="0"))])
    assert [p.participant_status for p in parts] == ["no_answer"]
    assert parts[0].dial_start == call.start_time


def test_retried_dial_counts_once():
    body = {"UniqueId": "u", "Extensions": ["201"]}
    _call, parts = call_from([
        (1, "dial", "u", body, "2025-07-03 10:00:01", "Timeout"),
        (2, "dial", "u", body, "2025-07-03 10:00:03", "''"),
        (3, "hangup", "u", hangup_body(UniqueId="u", Extensions=[])),
    ])
    assert [p.extension for p in parts] == ["201"] and parts[0].dial_start == utc(2025, 7, 3, 7, 0, 1)


# ---------------------------------------------------------------- rejects and events (§4.1)

@pytest.mark.parametrize(
    "request_value, reason",
    [
        (None, "request is NULL"),
        ("{not json", "invalid JSON"),
        ("[1, 2]", "JSON is not an object"),
        ('"text"', "JSON is not an object"),
        ("null", "JSON is not an object"),
        ("42", "JSON is not an object"),
        ('{"a": NaN}', "invalid JSON"),
        ('{"a": "\\ud800"}', "unpaired surrogate"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        ("", "invalid JSON"),
    ],
)
def test_rejected_rows_keep_identity_and_reason(request_value, reason):
    outcome = classify_row(source_row(7, "dial", "1.1", request_value), MINSK)
    assert isinstance(outcome, Rejected)
    assert reason in outcome.reason and outcome.source_id == 7 and outcome.event_type == "dial"
    assert outcome.unique_id == "1.1"
    if isinstance(request_value, str):
        assert outcome.raw_text == request_value


def test_hangup_without_uniqueid_anywhere_is_rejected_but_other_events_are_kept():
    outcome = classify_row(source_row(1, "hangup", "  ", json.dumps({"Token": "1", "UniqueId": " "})), MINSK)
    assert isinstance(outcome, Rejected) and outcome.reason == "hangup without UniqueId"
    outcome = classify_row(source_row(2, "bridge_create", "", json.dumps({"BridgeUniqueid": "b"})), MINSK)
    assert isinstance(outcome, Event) and outcome.unique_id == ""


def test_unknown_event_names_and_null_names_are_stored():
    outcome = classify_row(source_row(1, "weird_event", "1.1", "{}"), MINSK)
    assert isinstance(outcome, Event) and outcome.event_type == "weird_event"
    outcome = classify_row(source_row(1, None, "1.1", "{}"), MINSK)
    assert isinstance(outcome, Event) and outcome.event_type == ""


def test_event_timestamp_from_datetime_column():
    ev = event_of(1, "dial", "u", {"UniqueId": "u"}, at="2025-07-03 03:00:00")
    assert ev.event_timestamp == utc(2025, 7, 3, 0, 0, 0)
    ev = event_of(1, "dial", "u", {"UniqueId": "u"}, at="garbage")
    assert ev.event_timestamp is None


def test_nul_characters_never_reach_text_columns():
    outcome = classify_row(source_row(1, "dial\x00", "1\x00", '{"UniqueId": "x\\u0000"}'), MINSK)
    assert isinstance(outcome, Event)
    assert "\x00" not in outcome.event_type and "\x00" not in outcome.unique_id
    assert "\\u0000" in outcome.canonical_json


# ---------------------------------------------------------------- identity (§4.3)

def test_identity_ignores_key_order_and_spacing_but_not_values():
    a = event_of(1, "dial", "u", {"UniqueId": "u", "Phone": "Дмитрий", "Extensions": ["1"]})
    b_text = json.dumps({"Extensions": ["1"], "Phone": "Дмитрий", "UniqueId": "u"}, indent=4, ensure_ascii=True)
    b = classify_row(source_row(2, "dial", "u", b_text), MINSK)
    assert isinstance(b, Event) and a.body_hash == b.body_hash
    assert a.canonical_json == '{"Extensions":["1"],"Phone":"Дмитрий","UniqueId":"u"}'
    c = event_of(3, "dial", "u", {"UniqueId": "u", "Phone": "Дмитрий", "Extensions": ["2"]})
    assert c.body_hash != a.body_hash


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none()), max_size=6))
def test_canonical_json_is_stable_under_reserialization(body):
    first = canonical_json(body)
    assert canonical_json(json.loads(json.dumps(body, indent=2, sort_keys=False))) == first


# ---------------------------------------------------------------- live rule (§4.1)

def test_live_call_only_without_delivered_hangup():
    undelivered = event_of(1, "hangup", "u", hangup_body(UniqueId="u"), status="Timeout")
    assert not conversation_of([undelivered], live_table=True).live_delivered
    delivered = event_of(2, "hangup", "u", hangup_body(UniqueId="u"), status="<Response [200]>")
    assert conversation_of([undelivered, delivered], live_table=True).live_delivered
    assert not conversation_of([undelivered, delivered], live_table=False).live_delivered


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False, allow_infinity=False), st.text(),
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_fast_canonical_bytes_equal_the_reference_form(body):
    from asterisk_pipeline.normalize import canonical_bytes, parse_body

    text = json.dumps(body, ensure_ascii=False)
    try:
        parsed = parse_body(text)
    except ValueError:
        return  # e.g. a float so large it overflowed on the way back in
    try:
        reference = canonical_json(parsed).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            canonical_bytes(parsed)
        return
    assert canonical_bytes(parsed) == reference


def test_out_of_range_numbers_are_rejected_not_rounded():
    outcome = classify_row(source_row(1, "dial", "u", '{"a": 1E400}'), MINSK)
    assert isinstance(outcome, Rejected) and "out of range" in outcome.reason
    outcome = classify_row(source_row(1, "dial", "u", '{"a": 123456789012345678901234567890, "b": 1e-05}'), MINSK)
    assert isinstance(outcome, Event)
    assert outcome.canonical_json == '{"a":123456789012345678901234567890,"b":1e-05}'
