"""A PostgreSQL warehouse of a whole fleet's conversations, built fast: synthetic ``calls`` and
``call_participants`` rows COPYed straight in (not through the import), for the benchmarks of
the read side (``calls_search``; the missed-calls benchmark can use it too).

What it looks like (``FleetShape``; default 300 enterprises × 60 days × ~280 calls ≈ 5.04 M calls):
- each enterprise has 10–49 extensions (``101``…) and its own pool of customers whose calls are
  skewed (a few call often: repeat callers), plus a small pool shared by every enterprise;
- 60 % incoming (ring group of 1–3, 70 % answered, some transferred, some to a FollowMe mobile),
  30 % outgoing, 10 % internal; PBX working hours 08:00–20:00 Europe/Minsk;
- numbers in the spellings the PBXes write (``+375291234567`` incoming, ``80291234567`` or
  ``375291234567`` outgoing), ``phone_key`` = SPEC §4.7's key, as the import writes it;
- participants as SPEC §4.4 lists them (rang, held with ``talk_order``), ~2 per call.

How it is fast: the rows are generated deterministically (seeded) in Python and written as COPY
text; the secondary indexes of both tables are dropped before and built once after, foreign-key
triggers are off during the load (``session_replication_role = replica``), then VACUUM ANALYZE.
"""
from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

#: Columns written to calls, in COPY order.
CALL_COLUMNS = (
    "id", "unique_id", "enterprise_id", "token", "start_time", "end_time", "duration", "phone_number", "phone_key",
    "trunk", "main_extension", "extensions_count", "call_type", "call_status", "is_answered", "answered_by",
    "answered_at", "final_extension", "transfer_chain", "leg_count", "shape", "data_source", "asterisk_host",
)
PARTICIPANT_COLUMNS = (
    "id", "call_id", "extension", "participant_status", "ring_order", "dial_start", "answer_time", "hangup_time",
    "talk_order",
)
_OPERATORS = ("25", "29", "33", "44")
_MINSK_OFFSET = timedelta(hours=3)
_CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class FleetShape:
    enterprises: int = 300
    days: int = 60
    calls_per_day: int = 280  # per enterprise (± 30 %): 300 × 60 × 280 ≈ 5,040,000
    last_day: date = date(2025, 6, 30)
    customers: int = 4_000  # per enterprise
    shared_customers: int = 2_000  # call several enterprises
    seed: int = 1

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.days - 1)


def enterprise_number(index: int) -> str:
    return f"{1000 + index:04d}"


def customer_national(enterprise: int, customer: int, shape: FleetShape) -> str:
    """The 9-digit national number (= SPEC §4.7 key) of a customer; ``enterprise`` -1: shared."""
    serial = (enterprise + 1) * shape.customers + customer
    return _OPERATORS[serial % 4] + f"{(serial * 7_919 + 13) % 10_000_000:07d}"


@dataclass(frozen=True)
class Loaded:
    calls: int
    participants: int
    seconds: float


def build(url: str, shape: FleetShape = FleetShape()) -> Loaded:
    """Fill the migrated, empty warehouse at ``url`` (a ``postgresql://`` URL) with ``shape``."""
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as admin:
        indexes = _drop_secondary_indexes(admin)
        _enterprises(admin, shape)
    calls = participants = 0
    with psycopg.connect(url) as call_conn, psycopg.connect(url) as part_conn:
        for conn in (call_conn, part_conn):
            conn.execute("SET session_replication_role = replica")  # no FK trigger per row
        with call_conn.cursor().copy(f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN") as call_copy, \
                part_conn.cursor().copy(f"COPY call_participants ({', '.join(PARTICIPANT_COLUMNS)}) FROM STDIN") as part_copy:
            for call_lines, part_lines in _chunks(shape):
                call_copy.write("".join(call_lines))
                part_copy.write("".join(part_lines))
                calls += len(call_lines)
                participants += len(part_lines)
        call_conn.commit()
        part_conn.commit()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SET maintenance_work_mem = '1GB'")
        for definition in indexes:
            admin.execute(definition)
        for table in ("calls", "call_participants"):
            admin.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        admin.execute("VACUUM ANALYZE calls")
        admin.execute("VACUUM ANALYZE call_participants")
    return Loaded(calls, participants, time.perf_counter() - began)


def _drop_secondary_indexes(conn: psycopg.Connection) -> list[str]:
    """Drop the indexes of calls and call_participants that back no constraint; their DDL."""
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN ('calls', 'call_participants')"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def _enterprises(conn: psycopg.Connection, shape: FleetShape) -> None:
    with conn.cursor().copy("COPY enterprises (number, name, host, secret, ip, is_enabled, active, name2) FROM STDIN") as copy:
        for index in range(shape.enterprises):
            number = enterprise_number(index)
            copy.write_row((number, f"ent {number}", f"pbx{number}.lan", f"secret-{number}",
                            f"10.88.{index // 250}.{index % 250}", True, True, f"10{number}"))


#: "HH:MM:SS" of every second of a day: formatting a time is one lookup, not a strftime.
_CLOCK = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
_OPENING_UTC = 5 * 3600  # 08:00 in Minsk (UTC+3); the last call starts before 20:00 and ends the same UTC day


def _chunks(shape: FleetShape) -> Iterator[tuple[list[str], list[str]]]:
    """COPY text lines of calls and participants, a chunk at a time."""
    rng = random.Random(shape.seed)
    call_id = participant_id = 0
    calls: list[str] = []
    parts: list[str] = []
    for index in range(shape.enterprises):
        number = enterprise_number(index)
        fixed = _Fixed(number, [str(101 + i) for i in range(10 + index % 40)], index)
        day = shape.first_day
        sequence = 0
        while day <= shape.last_day:
            midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            prefix = day.isoformat() + " "
            for _ in range(rng.randint(int(shape.calls_per_day * 0.7), int(shape.calls_per_day * 1.3))):
                call_id += 1
                sequence += 1
                second = _OPENING_UTC + int(rng.random() * 12 * 3600)
                call = _call(rng, shape, index, fixed.extensions)
                moments = _Moments(prefix, second, call)
                calls.append(_call_line(call_id, f"{midnight + second}.{sequence}", fixed, moments, call))
                for order, (party, held) in enumerate(call.parties, start=1):
                    participant_id += 1
                    parts.append(f"{participant_id}\t{call_id}\t{party}\t{'answered' if held else 'no_answer'}\t"
                                 f"{order}\t{moments.start}\t{moments.answer if held else NULL}\t{moments.end}\t"
                                 f"{held if held else NULL}\n")
                if len(calls) >= _CHUNK_ROWS:
                    yield calls, parts
                    calls, parts = [], []
            day += timedelta(days=1)
    yield calls, parts


NULL = "\\N"


@dataclass(frozen=True)
class _Fixed:
    number: str
    extensions: list[str]
    index: int


@dataclass
class _Call:
    direction: str
    phone: str
    key: str
    answered: bool
    duration: int
    chain: list[str]
    parties: list[tuple[str, int | None]]  # (party, talk_order)
    shape: str
    answer_delay: int


class _Moments:
    """A call's start, answer and end as COPY text."""

    __slots__ = ("answer", "end", "start")

    def __init__(self, prefix: str, second: int, call: _Call) -> None:
        self.start = prefix + _CLOCK[second] + "+00"
        self.end = prefix + _CLOCK[second + call.duration] + "+00"
        self.answer = prefix + _CLOCK[second + call.answer_delay] + "+00" if call.answered else NULL


def _customer(rng: random.Random, shape: FleetShape, index: int) -> str:
    if rng.random() < 0.05:
        return customer_national(-1, int(shape.shared_customers * rng.random() ** 2), shape)
    return customer_national(index, int(shape.customers * rng.random() ** 2.5), shape)  # repeat callers


def _call(rng: random.Random, shape: FleetShape, index: int, extensions: list[str]) -> _Call:
    roll = rng.random()
    if roll < 0.6:
        return _incoming(rng, shape, index, extensions)
    pick = extensions[int(rng.random() * len(extensions))]
    answered = rng.random() < 0.7
    if roll < 0.9:
        national = _customer(rng, shape, index)
        phone = ("80" if roll < 0.8 else "375") + national
        return _Call("1", phone, national, answered, 20 + int(rng.random() * 380) if answered else 3 + int(rng.random() * 27),
                     [pick] if answered else [], [(pick, 1 if answered else None)], "outgoing", 0)
    callee = extensions[(extensions.index(pick) + 1) % len(extensions)]
    return _Call("2", pick, pick, answered, 10 + int(rng.random() * 290) if answered else 3 + int(rng.random() * 17),
                 [callee] if answered else [], [(callee, 1 if answered else None)], "internal", 0)


def _incoming(rng: random.Random, shape: FleetShape, index: int, extensions: list[str]) -> _Call:
    national = _customer(rng, shape, index)
    size = (1, 1, 2, 3)[int(rng.random() * 4)]
    first = int(rng.random() * len(extensions))
    group = [extensions[(first + i * 3) % len(extensions)] for i in range(size)]
    answered = rng.random() < 0.7
    chain: list[str] = []
    kind = "unanswered"
    if answered:
        chain = [group[int(rng.random() * size)]]
        kind = "direct" if size == 1 else "group"
        if rng.random() < 0.12:
            chain.append(extensions[(extensions.index(chain[0]) + 1) % len(extensions)])
            kind = "transfer_attended" if rng.random() < 0.6 else "transfer_blind"
    rang = list(dict.fromkeys(group + chain))
    if rng.random() < 0.03:  # a FollowMe to a manager's mobile
        rang.append("375" + customer_national(index, shape.customers + index % 7, shape))
        kind = "followme"
    parties = [(party, chain.index(party) + 1 if party in chain else None) for party in rang]
    duration = 30 + int(rng.random() * 870) if answered else 5 + int(rng.random() * 55)
    return _Call("0", "+375" + national, national, answered, duration, chain, parties, kind, 3 + int(rng.random() * 22))


def _call_line(call_id: int, unique_id: str, fixed: _Fixed, moments: _Moments, call: _Call) -> str:
    number, chain = fixed.number, call.chain
    first = call.parties[0][0]
    held = '["' + '","'.join(chain) + '"]' if chain else "[]"
    return (
        f"{call_id}\t{unique_id}\t{number}\tsecret-{number}\t{moments.start}\t{moments.end}\t{call.duration}\t"
        f"{call.phone}\t{call.key}\t{'0001363' if call.direction != '2' else NULL}\t{first}\t{len(call.parties)}\t"
        f"{call.direction}\t{'2' if call.answered else '0'}\t{'t' if call.answered else 'f'}\t"
        f"{chain[0] if chain else NULL}\t{moments.answer}\t{chain[-1] if chain else NULL}\t{held}\t"
        f"{1 + (len(chain) - 1) * 3 if chain else 1}\t{call.shape}\t{'live' if call_id % 10 == 0 else 'downloaded'}\t"
        f"pbx{number}.lan\n"
    )
