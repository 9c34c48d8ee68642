"""SPEC §4.1 as pure functions: source rows → events or rejects (``conversations`` does §4.2–4.4).

Nothing here does I/O.
Hot path: ``classify_row`` runs once per source row (a million per big file), so it avoids
regexes and repeated work where it can.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from hashlib import sha256
from typing import Any, overload
from zoneinfo import ZoneInfo

import orjson

from .model import Event, Rejected, SourceRow, SqliteValue

_RESPONSE_2XX = re.compile(r"<Response \[2[0-9][0-9]\]>\Z")
_NUL = "\x00"


# ---------------------------------------------------------------------------------------------
# Scalars


def as_text(value: Any) -> str | None:
    """A raw value as text, unchanged when it already is text.

    NUL is the one character PostgreSQL text cannot hold; it becomes U+FFFD (the raw body keeps
    it, escaped, in ``raw_data``).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace(_NUL, "\ufffd") if _NUL in text else text


def is_delivered(status: SqliteValue) -> bool:
    """SPEC §2.1: ``ok`` in any case or exactly ``<Response [2xx]>`` (stripped); NULL is not."""
    if type(status) is str:
        return _status_delivered(status)
    text = as_text(status)
    if text is None:
        return False
    stripped = text.strip()
    return stripped.lower() == "ok" or _RESPONSE_2XX.match(stripped) is not None


@lru_cache(maxsize=4096)
def _status_delivered(text: str) -> bool:
    # A PBX writes a handful of distinct statuses; cache the verdict per text.
    stripped = text.strip()
    return stripped.lower() == "ok" or _RESPONSE_2XX.match(stripped) is not None


def parse_local(value: Any) -> datetime | None:
    """Strict ``'YYYY-MM-DD HH:MM:SS'`` (naive, PBX local); anything else is None."""
    if type(value) is not str or len(value) != 19:
        return None
    if value[4] != "-" or value[7] != "-" or value[10] != " " or value[13] != ":" or value[16] != ":":
        return None
    digits = value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:  # the shape is checked above, so the C parser reads exactly the six fields
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def local_to_utc(local: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A naive PBX-local time as an aware UTC time (None where UTC has no such time: year 1)."""
    if local is None:
        return None
    try:
        return local.replace(tzinfo=tz).astimezone(UTC)
    except OverflowError:
        return None


#: SPEC §4.2: a time more than this far before or after its file's date is implausible.
PLAUSIBLE_MARGIN = timedelta(days=1)


@lru_cache(maxsize=4096)
def plausible_window(file_date: date) -> tuple[datetime, datetime]:
    """The PBX-local times a row of ``file_date``'s file may carry: the day, one day either side.

    A year-1, 1900 or 9999 stamp parses but would poison durations and per-day figures (and
    overflow on the way to UTC), so it counts as unparsable (SPEC §4.2).
    """
    day = datetime(file_date.year, file_date.month, file_date.day)
    try:
        low = day - PLAUSIBLE_MARGIN
    except OverflowError:
        low = datetime.min
    try:
        high = day + PLAUSIBLE_MARGIN * 2
    except OverflowError:
        high = datetime.max
    return low, high


def parse_plausible(value: Any, file_date: date | None) -> datetime | None:
    """``parse_local``, and None for a time outside ``file_date``'s plausible window."""
    local = parse_local(value)
    if local is None or file_date is None:
        return local
    low, high = plausible_window(file_date)
    return local if low <= local < high else None


@lru_cache(maxsize=262_144)
def text_to_utc(value: str, tz: ZoneInfo, file_date: date | None = None) -> datetime | None:
    """``parse_plausible`` then ``local_to_utc``, cached: rows of one second share their DateTime."""
    return local_to_utc(parse_plausible(value, file_date), tz)


def to_utc(value: Any, tz: ZoneInfo, file_date: date | None = None) -> datetime | None:
    return text_to_utc(value, tz, file_date) if type(value) is str else None


def normalize_extensions(value: Any) -> tuple[str, ...]:
    """SPEC §2.2: a list, ``[""]``, ``[]`` or ``"201&202"`` → stripped, non-blank, unique, in order."""
    if value is None:
        return ()
    if type(value) is list and all(
        type(item) is str and item and "&" not in item and "\x00" not in item and item.strip() == item
        for item in value
    ):
        return tuple(dict.fromkeys(value))  # the common, clean case
    raw_items: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        text = as_text(item)
        if text is not None:
            raw_items.extend(text.split("&"))
    seen: dict[str, None] = {}
    for item in raw_items:
        stripped = item.strip()
        if stripped:
            seen.setdefault(stripped, None)
    return tuple(seen)


def call_type_text(value: Any) -> str | None:
    """``str(CallType)``: ``1``, ``1.0`` and ``"1"`` all give ``'1'``."""
    return as_text(value)


def canonical_json(body: dict[str, Any]) -> str:
    """SPEC §4.3: sorted keys, compact separators, non-ASCII kept as is (the reference form)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """``canonical_json(body)`` as UTF-8, five times faster.

    orjson writes the same text as the reference for every value ``parse_body`` produces except
    floats (``1e-05`` vs ``0.00001``), integers beyond 64 bits and unpaired surrogates; for those
    it raises TypeError (floats arrive as ``_JsonFloat``, which it refuses) and the reference
    serializer takes over. Raises UnicodeEncodeError for an unpaired surrogate.
    """
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(body).encode("utf-8")


class _JsonFloat(float):
    """A float read from JSON; its type routes canonical serialization to the reference form."""

    __slots__ = ()


def _finite_float(text: str) -> float:
    value = _JsonFloat(text)
    if value in (_INF, -_INF):
        raise ValueError(f"number {text} is out of range")
    return value


_INF = float("inf")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for all rows: json.loads(text, **hooks) would build a new decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_body(text: str) -> Any:
    """json.loads that refuses NaN/Infinity and out-of-range numbers (they cannot round-trip).

    orjson parses first (three times faster); the standard library has the last word whenever
    orjson refuses the text (its error, or its acceptance of e.g. an unpaired surrogate, is the
    reference) or the value holds a float (orjson reads integers beyond 64 bits as floats).
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _DECODER.decode(text)
    if _holds_float(value):
        return _DECODER.decode(text)
    return value


def _holds_float(value: Any) -> bool:
    if type(value) is dict:
        items: Iterable[Any] = value.values()
    elif type(value) is list:
        items = value
    else:
        return type(value) is float
    for item in items:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and _holds_float(item)):
            return True
    return False


def _uid(value: Any) -> str:
    if type(value) is str and _NUL not in value:
        return value.strip()
    text = as_text(value)
    return text.strip() if text else ""


# ---------------------------------------------------------------------------------------------
# Rows → events or rejects


def classify_row(row: SourceRow, tz: ZoneInfo, file_date: date | None = None) -> Event | Rejected:
    """SPEC §4.1: a row becomes an event, or a reject with its reason. Never raises.

    ``file_date``: the day file the row was read from; its DateTime outside the plausible
    window around that day is stored as unknown (NULL), the raw body keeps the rest.
    Whatever else goes wrong with a row (a value no rule foresaw) makes it a reject with the
    error as its reason: one row never stops an import (SPEC §4.1 "Nothing escapes").
    """
    try:
        return classify_event(row, tz, file_date)
    except Exception as exc:  # noqa: BLE001 - the quarantine boundary of one row
        return unprocessable(row, exc)


#: How much of an error message or a value a reject's reason quotes.
REASON_EXCERPT = 200


def unprocessable(row: SourceRow, exc: BaseException) -> Rejected:
    """The reject of a row that broke a rule's code: its raw text kept, the error as reason."""
    try:
        raw = as_text(row.request) if not isinstance(row.request, bytes) else row.request.decode("utf-8", "backslashreplace")
    except Exception:  # noqa: BLE001 - even the raw text may be unusable
        raw = None
    try:
        name = as_text(row.event)
        uid = _uid(row.unique_id) or None
    except Exception:  # noqa: BLE001
        name, uid = None, None
    message = f"{type(exc).__name__}: {exc}"[:REASON_EXCERPT]
    return Rejected(row.id, storable(name), storable(uid), storable(raw), storable(f"unprocessable row: {message}"))


def classify_event(row: SourceRow, tz: ZoneInfo, file_date: date | None) -> Event | Rejected:
    """``classify_row`` without its quarantine: the caller catches what it raises (the import
    puts one boundary around a row's classification and its conversation view)."""
    event = row.event
    name = event if type(event) is str and _NUL not in event else as_text(event)
    column_uid = _uid(row.unique_id)
    request = row.request
    if type(request) is str:
        text = request
    else:
        decoded = _request_text(row, name, column_uid)
        if isinstance(decoded, Rejected):
            return decoded
        text = decoded
    try:
        body = parse_body(text)
    except RecursionError:
        return _reject(row, name, column_uid, as_text(text), "invalid JSON: nested too deeply")
    except ValueError as exc:
        return _reject(row, name, column_uid, as_text(text), f"invalid JSON: {exc}")
    if not isinstance(body, dict):
        return _reject(row, name, column_uid, as_text(text), f"JSON is not an object but {_json_kind(body)}")
    unique_id = column_uid or _uid(body.get("UniqueId"))
    if not unique_id and name == "hangup":
        return _reject(row, name, column_uid, as_text(text), "hangup without UniqueId")
    try:
        encoded = canonical_bytes(body)
    except UnicodeEncodeError:
        return _reject(row, name, column_uid, as_text(text), "JSON holds an unpaired surrogate escape")
    except RecursionError:
        return _reject(row, name, column_uid, as_text(text), "invalid JSON: nested too deeply")
    status = row.status
    stamp = row.date_time
    status_text: str | None
    if type(status) is str and _NUL not in status:
        delivered, status_text = _status_delivered(status), status
    else:
        delivered, status_text = is_delivered(status), as_text(status)
    # positional: a NamedTuple built by keyword costs a dict per row (once per source row)
    return _new_event(Event, (
        row.id,
        unique_id,
        name if name is not None else "",
        text_to_utc(stamp, tz, file_date) if type(stamp) is str else None,
        encoded.decode("utf-8"),
        sha256(encoded).digest(),
        delivered,
        status_text,
        body,
    ))


_new_event = tuple.__new__  # Event's fields in order, without its keyword-handling __new__


def _request_text(row: SourceRow, name: str | None, column_uid: str) -> str | Rejected:
    """The request column as text when SQLite did not hand a string: NULL and bytes that are
    not UTF-8 are rejects."""
    request = row.request
    if request is None:
        return _reject(row, name, column_uid, None, "request is NULL")
    if isinstance(request, bytes):
        try:
            return request.decode("utf-8")
        except UnicodeDecodeError:
            raw = request.decode("utf-8", "backslashreplace")
            return _reject(row, name, column_uid, raw, "request is not valid UTF-8")
    return as_text(request) or ""


def _reject(row: SourceRow, name: str | None, column_uid: str, raw_text: str | None, reason: str) -> Rejected:
    return Rejected(row.id, storable(name), storable(column_uid) or None, storable(raw_text), storable(reason))


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
def storable(text: str | None) -> str | None:
    """Text both databases can hold: NUL becomes U+FFFD (PostgreSQL text has no NUL), an
    unpaired surrogate a ``\\udXXX`` escape (it has no UTF-8 form)."""
    if text is None:
        return None
    if _NUL in text:
        text = text.replace(_NUL, "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
