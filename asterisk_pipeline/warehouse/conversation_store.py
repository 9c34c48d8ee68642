"""Storage verbs for conversations: the rows they are assembled from, and calls, legs and
participants written back (SPEC §3, §4.2–4.4). No rule lives here: ``ownership`` decides
(SPEC §4.3), ``sync`` makes the rows, this module reads and writes, inside the caller's
transaction and staging tables.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Date, bindparam, text

from ..model import CONVERSATION_TYPES, ROW_ID_MIN, LegOwner
from .schema import call_legs, calls
from .sql import execute, named, statement
from .staging import COLUMNS, ProbeQuery, Stager
from .utc import as_utc

SIGHTING_COLUMNS = (
    "enterprise_id, source_table, file_date, source_id, unique_id, event_type, body_hash,"
    " event_timestamp, delivered, bridge_id, local_base"
)
# Read off ``schema``, so they cannot drift from the tables (``sync.importer``'s ``_leg_row``
# and ``_call_row`` build their tuples in this order): a leg's columns (its id is the table's),
# and what a recompute or fill of a stored call may change (not its identity, flow or creation).
LEG_COLUMNS = ", ".join(c.name for c in call_legs.columns if c.name != "id")
CALL_FIELDS = tuple(
    c.name for c in calls.columns if c.name not in ("id", "unique_id", "enterprise_id", "data_source", "created_at")
)


class StoredRow(NamedTuple):
    """One sighting with its event's body: what the assembly reads back from the warehouse."""

    file_date: date
    source_id: int
    event_timestamp: datetime | None  # aware UTC
    unique_id: str
    event_type: str
    delivered: bool
    raw_json: str


def _stored_row(row: Sequence[Any]) -> StoredRow:
    """A row of the raw-SQL reads below (file date, source id, time, UniqueId, type, delivered,
    raw JSON; some go through staging probes, which no column type reaches): its time read as
    ``UtcDateTime`` reads it."""
    fd, sid, at, uid, kind, ok, raw_json = row
    return StoredRow(_as_date(fd), int(sid), as_utc(at), uid, kind, bool(ok), raw_json)


# The rows a conversation reads are each event's own row (its position in ``call_events``)
# and the other rows of ``event_sightings``; readers read the first UNION ALL the second.
# An event's own row is one when a conversation reads it (``conversations.conv_row``):
_OWN = (
    "e.unique_id <> '' AND e.event_type IN ("
    + ", ".join(f"'{kind}'" for kind in sorted(CONVERSATION_TYPES)) + ")"
)
# A sighting's body comes from its event, by identity; one left at its event's own position
# (none is written there) would repeat the own row, so it is not read.
_EVENT_JOIN = (
    " JOIN call_events e ON e.enterprise_id = s.enterprise_id AND e.unique_id = s.unique_id"
    " AND e.event_type = s.event_type AND e.body_hash = s.body_hash"
    " AND NOT (e.source_table = s.source_table AND e.file_date = s.file_date"
    " AND e.source_id = s.source_id)"
)
_ROW = "{a}.file_date, {a}.source_id, {a}.event_timestamp, {a}.unique_id, {a}.event_type, {a}.delivered"


def _raw(dialect: str) -> str:
    return "e.raw_data::text" if dialect == "postgresql" else "e.raw_data"


def _above(after: int) -> str:
    """``source_id`` above ``after``: BEFORE_FIRST_ROW (nothing read) is below every 64-bit id
    and cannot be bound, so it becomes ``>=`` the smallest one."""
    return ">=" if after < ROW_ID_MIN else ">"


def _bound(after: int) -> int:
    return max(after, ROW_ID_MIN)


def forget_sightings_above(conn: Connection, enterprise: str, table: str, file_date: date, after: int) -> None:
    """The rows of a file above the cursor are about to be read (again): drop what a forced or
    recreated read would otherwise duplicate.

    An event's own row stays: the event keeps the position it was first read at, and a re-read
    of the same row at the same position finds it there and records nothing; a row that is
    not its event's own row is recorded again by the re-read."""
    conn.execute(
        statement(
            "DELETE FROM event_sightings WHERE enterprise_id = :ent AND source_table = :tbl"
            f" AND file_date = :fd AND source_id {_above(after)} :after"
        ),
        {"ent": enterprise, "tbl": table, "fd": file_date, "after": _bound(after)},
    )


def has_other_sightings(conn: Connection, enterprise: str, table: str, file_date: date, after: int) -> bool:
    """Whether anything outside this read is stored for the table: a first import skips the
    look-ups of earlier rows altogether.

    One statement, its parts tried in turn until one finds a row: the other sightings, then the
    events' own rows of other day files and of this one below the read (each an index range of
    (enterprise_id, file_date, source_table), not every row of the table)."""
    params = {"ent": enterprise, "tbl": table, "fd": file_date, "after": _bound(after)}
    own = [f"file_date {op} :fd" for op in ("<", ">")]
    if after >= ROW_ID_MIN:
        own.append("file_date = :fd AND source_id <= :after")
    parts = (
        ("SELECT 1 AS found FROM event_sightings WHERE enterprise_id = :ent AND source_table = :tbl"
         f" AND NOT (file_date = :fd AND source_id {_above(after)} :after) LIMIT 1"),
        *(f"SELECT 1 AS found FROM call_events e WHERE enterprise_id = :ent AND source_table = :tbl"
          f" AND {where} AND {_OWN} LIMIT 1" for where in own),
    )
    sql = " UNION ALL ".join(f"SELECT found FROM ({part}) AS p{n}" for n, part in enumerate(parts)) + " LIMIT 1"
    return conn.execute(statement(sql), named(sql, params)).first() is not None


def has_events(conn: Connection, enterprise: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM call_events WHERE enterprise_id = :ent LIMIT 1"), {"ent": enterprise}
    ).first()
    return found is not None


def has_legs(conn: Connection, enterprise: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM call_legs WHERE enterprise_id = :ent LIMIT 1"), {"ent": enterprise}
    ).first()
    return found is not None


class SightingReader:
    """Rows of one enterprise and table stored by earlier reads, by UniqueId, bridge, Local
    channel or time — never the rows of the current read (``file_date``, ids above ``after``).
    Each read is two: the events' own rows, and the other sightings."""

    def __init__(self, stager: Stager, enterprise: str, table: str, file_date: date, after: int) -> None:
        self.stager = stager
        self.conn = stager.conn
        self.params: dict[str, Any] = {
            "ent": enterprise, "tbl": table, "fd": file_date, "after": _bound(after),
        }
        self._after = after

    def _not_current(self, alias: str) -> str:
        return f" AND NOT ({alias}.file_date = :fd AND {alias}.source_id {_above(self._after)} :after)"

    def _rows(self, result: Iterable[Any]) -> list[StoredRow]:
        rows = [_stored_row(row) for row in result]
        rows.sort(key=lambda r: (r.file_date, r.source_id))
        return rows

    def _columns(self, alias: str) -> str:
        return _ROW.format(a=alias) + f", {_raw(self.stager.dialect)} AS raw_json"

    def rows_of(self, unique_ids: Iterable[str]) -> list[StoredRow]:
        keys = sorted(set(unique_ids))
        if not keys:
            return []
        return self._rows(self.stager.probe_each(keys, self.params["ent"], (
            ProbeQuery(
                self._columns("e"), "call_events e",
                "e.enterprise_id = k.ent AND e.unique_id = k.key AND e.source_table = :tbl"
                f" AND {_OWN}" + self._not_current("e"),
                self.params,
            ),
            ProbeQuery(
                self._columns("s"), "event_sightings s" + _EVENT_JOIN,
                "s.enterprise_id = k.ent AND s.unique_id = k.key AND s.source_table = :tbl"
                + self._not_current("s"),
                self.params,
            ),
        )))

    def rows_of_day(self) -> list[StoredRow]:
        """Every stored row of the day file and table (what a rebuild re-assembles)."""
        sql = (
            f"SELECT {self._columns('e')} FROM call_events e WHERE e.enterprise_id = :ent"
            f" AND e.source_table = :tbl AND e.file_date = :fd AND {_OWN}"
            f" UNION ALL SELECT {self._columns('s')} FROM event_sightings s{_EVENT_JOIN}"
            " WHERE s.source_table = :tbl AND s.enterprise_id = :ent AND s.file_date = :fd"
        )
        return self._rows(self.conn.execute(statement(sql), self.params))

    def uids_by_key(self, column: str, keys: Iterable[str], near: date | None = None) -> set[str]:
        """UniqueIds whose rows carry one of ``keys`` in ``column`` (bridge_id or local_base)."""
        unique = sorted(set(keys))
        if not unique:
            return set()
        result = self.stager.probe_each(unique, self.params["ent"], self._key_queries(column, near))
        return {uid for (uid,) in result}

    def _key_queries(self, column: str, near: date | None) -> tuple[ProbeQuery, ProbeQuery]:
        """The probes of ``uids_by_key``: the events' own rows and the other sightings."""
        assert column in ("bridge_id", "local_base")
        params = dict(self.params)
        if near is not None:  # Local channel names repeat every day: only the neighbouring files
            params["lo"], params["hi"] = (
                self.stager.date(date.fromordinal(near.toordinal() - 1)),
                self.stager.date(date.fromordinal(near.toordinal() + 1)),
            )

        # SQLite would scan the three days' rows by their day index for each key; unary + keeps
        # the day off its index choice, so the key's partial index is taken (as PostgreSQL does)
        plus = "+" if self.stager.dialect == "sqlite" else ""

        def query(alias: str, table: str) -> ProbeQuery:
            days = f" AND {plus}{alias}.file_date BETWEEN :lo AND :hi" if near is not None else ""
            return ProbeQuery(
                f"{alias}.unique_id", f"{table} {alias}",
                f"{alias}.enterprise_id = k.ent AND {alias}.{column} = k.key"
                f" AND {alias}.source_table = :tbl" + days + self._not_current(alias),
                params,
            )

        return query("e", "call_events"), query("s", "event_sightings")

    def linked_uids(self, bridges: Iterable[str], bases: Iterable[str], near: date, unique_ids: Iterable[str]) -> set[str]:
        """One gather round's next UniqueIds: ``uids_by_key`` of the bridges and of the Local
        bases (near ``near``), and ``uids_of_same_calls`` of ``unique_ids`` — in one statement
        where the keys travel as arrays (``Stager.probe_sets``), else one by one."""
        bridge_keys, base_keys, uid_keys = sorted(set(bridges)), sorted(set(bases)), sorted(set(unique_ids))
        found = self.stager.probe_sets(self.params["ent"], [
            (bridge_keys, self._key_queries("bridge_id", None)),
            (base_keys, self._key_queries("local_base", near)),
            (uid_keys, (_SAME_CALLS,)),
        ])
        if found is None:
            return (
                self.uids_by_key("bridge_id", bridge_keys)
                | self.uids_by_key("local_base", base_keys, near=near)
                | uids_of_same_calls(self.stager, self.params["ent"], uid_keys)
            )
        return {uid for (uid,) in found}

    def uids_between(self, low: datetime, high: datetime) -> set[str]:
        result = self.conn.execute(
            statement(
                "SELECT e.unique_id FROM call_events e WHERE e.enterprise_id = :ent"
                " AND e.event_timestamp BETWEEN :low AND :high AND e.source_table = :tbl"
                f" AND {_OWN}" + self._not_current("e")
                + " UNION SELECT s.unique_id FROM event_sightings s WHERE s.enterprise_id = :ent"
                " AND s.event_timestamp BETWEEN :low AND :high AND s.source_table = :tbl"
                + self._not_current("s")
            ),
            {**self.params, "low": self.stager.time(low), "high": self.stager.time(high)},
        )
        return {uid for (uid,) in result}


def uids_of_same_calls(stager: Stager, enterprise: str, unique_ids: Iterable[str]) -> set[str]:
    """Every UniqueId filed under the calls these UniqueIds are filed under."""
    keys = sorted(set(unique_ids))
    if not keys:
        return set()
    result = stager.probe(keys, enterprise, _SAME_CALLS)
    return {uid for (uid,) in result}


# The other UniqueIds filed under the call a key's UniqueId is filed under.
_SAME_CALLS = ProbeQuery(
    "o.unique_id", "call_legs l JOIN call_legs o ON o.call_id = l.call_id",
    "l.enterprise_id = k.ent AND l.unique_id = k.key",
)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def leg_owners(stager: Stager, enterprise: str, unique_ids: Iterable[str]) -> dict[str, LegOwner]:
    """For each UniqueId already filed as a leg: its call id, the call's primary and flow."""
    keys = sorted(set(unique_ids))
    if not keys:
        return {}
    result = stager.probe(keys, enterprise, ProbeQuery(
        "l.unique_id, l.call_id, c.unique_id AS primary_uid, c.data_source",
        "call_legs l LEFT JOIN calls c ON c.id = l.call_id",
        "l.enterprise_id = k.ent AND l.unique_id = k.key",
    ))
    return {
        uid: LegOwner(int(cid) if cid is not None else None, primary, source)
        for uid, cid, primary, source in result
    }


def delete_calls(stager: Stager, call_ids: Iterable[int]) -> None:
    """Calls superseded by a conversation with another primary (legs and participants go too)."""
    ids = sorted(set(call_ids))
    if ids:
        condition, params = stager.key_filter("id", ids, key_type="bigint")
        stager.conn.execute(text(f"DELETE FROM calls WHERE {condition}"), params)


def insert_calls(stager: Stager, rows: list[tuple[Any, ...]]) -> None:
    stager.insert("calls", COLUMNS["stage_calls"], rows)


def update_calls(
    stager: Stager, recomputed: list[tuple[Any, ...]], filled: list[tuple[Any, ...]], params: dict[str, Any],
) -> None:
    """Apply ``ownership``'s plan to stored calls: every field of a ``recomputed`` row, only the
    NULLs of a ``filled`` one (rows as ``stage_calls``)."""
    for rows, value in ((recomputed, "s.{name}"), (filled, "coalesce(calls.{name}, s.{name})")):
        if not rows:
            continue
        stager.replace("stage_calls", rows)
        assignments = ", ".join(f"{name} = " + value.format(name=name) for name in CALL_FIELDS)
        execute(
            stager.conn,
            f"UPDATE calls SET {assignments} FROM stage_calls s"
            " WHERE calls.id = s.id AND calls.enterprise_id = s.enterprise_id",
            params,
        )


def replace_legs(stager: Stager, enterprise: str, unique_ids: Iterable[str], rows: list[tuple[Any, ...]]) -> None:
    """The legs of these UniqueIds become ``rows`` (columns as ``LEG_COLUMNS``)."""
    keys = sorted(set(unique_ids))
    if keys:
        condition, params = stager.key_filter("unique_id", keys)
        stager.conn.execute(
            text(f"DELETE FROM call_legs WHERE enterprise_id = :ent AND {condition}"),
            {"ent": enterprise, **params},
        )
    stager.insert("call_legs", LEG_COLUMNS, rows)


def replace_participants(stager: Stager, call_ids: Iterable[int], rows: list[tuple[Any, ...]]) -> None:
    ids = sorted(set(call_ids))
    if ids:
        condition, params = stager.key_filter("call_id", ids, key_type="bigint")
        stager.conn.execute(text(f"DELETE FROM call_participants WHERE {condition}"), params)
    stager.insert("call_participants", COLUMNS["stage_participants"], rows)


def link_events(stager: Stager, enterprise: str, links: dict[str, int | None]) -> None:
    """Point every event of these UniqueIds at their call (None: no call).

    A live cycle's few links travel as two arrays: a staging table would cost it a CREATE TEMP
    TABLE, a COPY and an ANALYZE (~5 ms of the ~30 ms a small sync costs PostgreSQL)."""
    if not links:
        return
    pairs = sorted(links.items())
    if stager.as_array(pairs):
        source = "unnest(CAST(:uids AS text[]), CAST(:ids AS bigint[])) AS s(unique_id, call_id)"
        params: dict[str, Any] = {"ent": enterprise, "uids": [u for u, _ in pairs], "ids": [c for _, c in pairs]}
    else:
        stager.replace("stage_links", pairs)
        source, params = "stage_links s", {"ent": enterprise}
    stager.conn.execute(
        text(
            f"UPDATE call_events SET call_id = s.call_id FROM {source}"
            " WHERE call_events.enterprise_id = :ent AND call_events.unique_id = s.unique_id"
            " AND call_events.call_id IS DISTINCT FROM s.call_id"
        ),
        params,
    )


def stored_days(
    conn: Connection, enterprise: str | None, date_from: date | None, date_to: date | None,
) -> list[tuple[str, date, str]]:
    """(enterprise, file date, table) of every day a conversation can be rebuilt from."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if enterprise is not None:
        clauses.append("enterprise_id = :ent")
        params["ent"] = enterprise
    if date_from is not None:
        clauses.append("file_date >= :lo")
        params["lo"] = date_from
    if date_to is not None:
        clauses.append("file_date <= :hi")
        params["hi"] = date_to
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    query = text(
        f"SELECT DISTINCT enterprise_id, file_date, source_table FROM call_events{where}"
        " ORDER BY enterprise_id, file_date, source_table"
    )
    typed = [bindparam(name, type_=Date()) for name in ("lo", "hi") if name in params]
    if typed:
        query = query.bindparams(*typed)
    return [(ent, _as_date(fd), tbl) for ent, fd, tbl in conn.execute(query, params)]


def is_unsighted(conn: Connection, enterprise: str, file_date: date, table: str) -> bool:
    """Whether the day was stored by a version that recorded no sightings (migration 0010 lists
    such days) and has not been rebuilt since."""
    found = conn.execute(
        statement(
            "SELECT 1 FROM unsighted_days WHERE enterprise_id = :ent AND file_date = :fd"
            " AND source_table = :tbl"
        ),
        {"ent": enterprise, "fd": file_date, "tbl": table},
    ).first()
    return found is not None


def mark_sighted(conn: Connection, enterprise: str, file_date: date, table: str) -> None:
    conn.execute(
        statement(
            "DELETE FROM unsighted_days WHERE enterprise_id = :ent AND file_date = :fd"
            " AND source_table = :tbl"
        ),
        {"ent": enterprise, "fd": file_date, "tbl": table},
    )


def own_rows_of_day(stager: Stager, enterprise: str, file_date: date, table: str) -> list[tuple[int, StoredRow]]:
    """(event id, its own row) of every event of a day file and table a conversation reads."""
    result = stager.conn.execute(
        statement(
            f"SELECT e.id, {_ROW.format(a='e')}, {_raw(stager.dialect)} FROM call_events e"
            f" WHERE e.enterprise_id = :ent AND e.source_table = :tbl AND e.file_date = :fd AND {_OWN}"
        ),
        {"ent": enterprise, "fd": file_date, "tbl": table},
    )
    return [(int(row[0]), _stored_row(row[1:])) for row in result]


def set_conversation_keys(stager: Stager, keys: list[tuple[int, str | None, str | None]]) -> None:
    """(event id, bridge_id, local_base) onto events stored before ``call_events`` had them."""
    if keys:
        stager.conn.execute(
            text("UPDATE call_events SET bridge_id = :bridge, local_base = :base WHERE id = :id"),
            [{"id": event_id, "bridge": bridge, "base": base} for event_id, bridge, base in keys],
        )


def insert_sightings(
    stager: Stager, enterprise: str, table: str, file_date: date, rows: list[tuple[Any, ...]],
) -> None:
    """Sightings (source_id, unique_id, event_type, body_hash, at, delivered, bridge, base) the
    caller knows are not their event's own row."""
    day, time = stager.date(file_date), stager.time
    stager.insert(
        "event_sightings",
        SIGHTING_COLUMNS,
        [(enterprise, table, day, sid, uid, kind, digest, time(at), ok, bridge, base)
         for sid, uid, kind, digest, at, ok, bridge, base in rows],
    )


def record_sightings(
    stager: Stager, enterprise: str, table: str, file_date: date, rows: list[tuple[Any, ...]],
) -> None:
    """Sightings as ``insert_sightings`` takes them, written unless a row is its event's own
    (the event is stored at that position): after the events of the same rows were written.

    SQLite: one conditional INSERT per row (an identity probe each). PostgreSQL (a rebuild's
    replay of a day file): the day's own positions read once, the rest copied."""
    if not rows:
        return
    if stager.dialect == "postgresql":
        own = {
            (int(sid), uid, kind, bytes(digest))
            for sid, uid, kind, digest in stager.conn.execute(
                text(
                    "SELECT source_id, unique_id, event_type, body_hash FROM call_events"
                    " WHERE enterprise_id = :ent AND source_table = :tbl AND file_date = :fd"
                ),
                {"ent": enterprise, "tbl": table, "fd": file_date},
            )
        }
        insert_sightings(stager, enterprise, table, file_date,
                         [r for r in rows if (r[0], r[1], r[2], bytes(r[3])) not in own])
        return
    day, time = stager.date(file_date), stager.time
    stager.conn.exec_driver_sql(
        f"INSERT INTO event_sightings ({SIGHTING_COLUMNS})"
        " SELECT :ent, :tbl, :fd, :sid, :uid, :kind, :digest, :at, :ok, :bridge, :base"
        " WHERE NOT EXISTS (SELECT 1 FROM call_events e WHERE e.enterprise_id = :ent"
        " AND e.unique_id = :uid AND e.event_type = :kind AND e.body_hash = :digest"
        " AND e.source_table = :tbl AND e.file_date = :fd AND e.source_id = :sid)"
        " ON CONFLICT DO NOTHING",
        [
            {"ent": enterprise, "tbl": table, "fd": day, "sid": sid, "uid": uid, "kind": kind,
             "digest": digest, "at": time(at), "ok": ok, "bridge": bridge, "base": base}
            for sid, uid, kind, digest, at, ok, bridge, base in rows
        ],
    )


def sightings_of(conn: Connection, enterprise: str, table: str, unique_ids: Iterable[str]) -> list[StoredRow]:
    """Every stored row of these UniqueIds in one table, all day files (``calls show --explain``
    re-assembles a conversation from exactly what the import read)."""
    keys = sorted(set(unique_ids))
    if not keys:
        return []
    raw = _raw(conn.dialect.name)
    query = text(
        f"SELECT {_ROW.format(a='e')}, {raw} AS raw_json FROM call_events e"
        f" WHERE e.enterprise_id = :ent AND e.source_table = :tbl AND e.unique_id IN :uids AND {_OWN}"
        f" UNION ALL SELECT {_ROW.format(a='s')}, {raw} AS raw_json FROM event_sightings s{_EVENT_JOIN}"
        " WHERE s.enterprise_id = :ent AND s.source_table = :tbl AND s.unique_id IN :uids"
    ).bindparams(bindparam("uids", expanding=True))
    rows = [_stored_row(row) for row in conn.execute(query, {"ent": enterprise, "tbl": table, "uids": keys})]
    rows.sort(key=lambda r: (r.file_date, r.source_id))
    return rows
