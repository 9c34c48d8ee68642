"""Temporary staging tables of one import, and the bulk path into them.

PostgreSQL gets COPY (``ON COMMIT DROP`` tables), SQLite batched inserts (temp tables dropped
by hand). Everything after staging is plain ``INSERT … SELECT … ON CONFLICT`` shared by both.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    LargeBinary,
    Table,
)

from . import schema
from .sql import named, statement
from .utc import UtcDateTime

# BigInteger before Integer: it is one.
_COPY_TYPES: tuple[tuple[type[Any], str], ...] = (
    (BigInteger, "int8"), (Integer, "int4"), (Boolean, "bool"), (UtcDateTime, "timestamptz"),
    (Date, "date"), (LargeBinary, "bytea"),
)


def _copy_type(column: Column[Any]) -> str:
    """The PostgreSQL binary-COPY type of a schema column (``text`` for text and JSON: we hand
    over canonical JSON text, and json's binary wire format is its text; psycopg's "json"
    dumper would serialize our str again, as a JSON string)."""
    kind = column.type
    for cls, name in _COPY_TYPES:
        if isinstance(kind, cls):
            return name
    return "text"


# A COPY type → the staging column's type on PostgreSQL and on SQLite (JSON: ``json`` on
# PostgreSQL, as the warehouse column, so a staged body is validated once).
_STAGE_TYPES = {
    "int8": ("bigint", "INTEGER"), "int4": ("integer", "INTEGER"), "bool": ("boolean", "INTEGER"),
    "timestamptz": ("timestamptz", "TEXT"), "date": ("date", "TEXT"), "bytea": ("bytea", "BLOB"),
}


def _stage_type(column: Column[Any], dialect: int) -> str:
    if isinstance(column.type, JSON):
        return ("json", "TEXT")[dialect]
    return _STAGE_TYPES.get(_copy_type(column), ("text", "TEXT"))[dialect]


def _mirrored(table: Table, leave: str, key: str) -> tuple[str, str, str]:
    """A staging table with the columns of a warehouse table (less ``leave``): its columns and
    its PostgreSQL and SQLite column definitions, derived from ``schema`` so they cannot drift."""
    columns = [c for c in table.columns if c.name != leave]
    ddl = [
        ", ".join(f"{c.name} {_stage_type(c, dialect)}{' PRIMARY KEY' if c.name == key else ''}" for c in columns)
        for dialect in (0, 1)
    ]
    return ", ".join(c.name for c in columns), ddl[0], ddl[1]


# Staging tables that mirror a warehouse table: calls to recompute or fill (keyed by UniqueId,
# no created_at) and participants (no id of their own yet).
_MIRRORS = {
    "stage_calls": _mirrored(schema.calls, "created_at", "unique_id"),
    "stage_participants": _mirrored(schema.call_participants, "id", ""),
}

# Column lists per table and dialect. A table is created the first time an import stages rows
# in it: a live cycle's small import needs two or three of them, and each CREATE TEMP TABLE (with
# its ON COMMIT DROP) costs PostgreSQL ~3 ms of catalog work.
_PG = {
    "stage_rejects": "source_id bigint, event_type text, unique_id text, raw_text text, reason text",
    "stage_calls": _MIRRORS["stage_calls"][1],
    "stage_participants": _MIRRORS["stage_participants"][1],
    "stage_links": "unique_id text PRIMARY KEY, call_id bigint",
    "stage_keys": "key text PRIMARY KEY",
    "stage_ids": "id bigint PRIMARY KEY",
    "stage_touched": "key text",
}
_SQLITE = {
    "stage_rejects": "source_id INTEGER, event_type TEXT, unique_id TEXT, raw_text TEXT, reason TEXT",
    "stage_calls": _MIRRORS["stage_calls"][2],
    "stage_participants": _MIRRORS["stage_participants"][2],
    "stage_links": "unique_id TEXT PRIMARY KEY, call_id INTEGER",
    "stage_keys": "key TEXT PRIMARY KEY",
    "stage_ids": "id INTEGER PRIMARY KEY",
    "stage_touched": "key TEXT",
}
_DDL = {
    "postgresql": {t: f"CREATE TEMP TABLE {t} ({c}) ON COMMIT DROP" for t, c in _PG.items()},
    "sqlite": {t: f"CREATE TEMP TABLE {t} ({c})" for t, c in _SQLITE.items()},
}
#: Key lists up to this long are looked up on PostgreSQL as an array, one index probe per key
#: (no staging table, no ANALYZE, whatever the statistics say); longer ones go through
#: ``stage_keys``, where the planner, with the table's fresh statistics, picks the join.
PROBE_MAX_KEYS = 2_000
TABLES = tuple(_PG)
# what ``Stager.write`` ANALYZEs (``stage_touched`` is only read whole, by ``stage_distinct``)
_JOINED = frozenset(TABLES) - {"stage_rejects", "stage_touched"}
COLUMNS = {
    "stage_rejects": "source_id, event_type, unique_id, raw_text, reason",
    "stage_calls": _MIRRORS["stage_calls"][0],
    "stage_participants": _MIRRORS["stage_participants"][0],
    "stage_links": "unique_id, call_id",
    "stage_keys": "key",
    "stage_ids": "id",
    "stage_touched": "key",
}


# PostgreSQL types of every column the loader COPYs, for binary COPY (twice as fast as text
# on the client: no number/timestamp formatting, no escaping): read off the warehouse tables it
# writes, which give every staging column its type too (ids and source ids are int8 everywhere).
_PG_TYPES = {
    c.name: kind
    for table in (schema.calls, schema.call_participants, schema.call_legs, schema.call_events, schema.event_sightings)
    for c in table.columns
    for kind in [_copy_type(c)]
    if kind != "text"
}


def _pg_types(columns: str) -> list[str]:
    return [_PG_TYPES.get(name.strip(), "text") for name in columns.split(",")]


@dataclass(frozen=True)
class StagedKeys:
    """Keys already in ``stage_keys`` (``Stager.stage_distinct``), for ``probe`` and
    ``key_filter``: a read's number keys, too many to keep in memory (issue 21)."""

    count: int


@dataclass(frozen=True)
class ProbeQuery:
    """``SELECT {select} FROM {tables} WHERE {where}`` with ``params``, run for each key of a
    ``Stager.probe`` (``where`` names the key as ``k.key`` and the enterprise as ``k.ent``)."""

    select: str
    tables: str
    where: str
    params: dict[str, Any] = field(default_factory=dict)
    order: str = ""  # ORDER BY of the whole result (a column position: both forms name it so)
    stream: bool = False  # fetched a batch at a time, never the whole result in memory at once


# The keys of a probe as ``k`` (key, ent): an array parameter (kept whole by OFFSET 0), or the
# ``stage_keys`` table.
_ARRAY_KEYS = ("(SELECT u.key, CAST(:probe_ent AS text) AS ent"
               " FROM unnest(CAST(:probe_keys AS text[])) AS u(key) OFFSET 0) AS k")
_STAGED_KEYS = "(SELECT key AS key, CAST(:probe_ent AS text) AS ent FROM stage_keys) AS k"


def _lateral(queries: Sequence[ProbeQuery], keys_param: str) -> str:
    """The queries' UNION ALL run for each key of the array parameter ``keys_param`` (each behind
    ``OFFSET 0``, PostgreSQL's fence against pulling the subquery up)."""
    union = " UNION ALL ".join(f"SELECT {q.select} FROM {q.tables} WHERE {q.where}" for q in queries)
    source = _ARRAY_KEYS.replace(":probe_keys", f":{keys_param}")
    return f"SELECT x.* FROM {source} CROSS JOIN LATERAL ({union} OFFSET 0) AS x"


def _merged_params(queries: Sequence[ProbeQuery]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for query in queries:
        params.update(query.params)
    return params


def _options(query: ProbeQuery) -> dict[str, Any]:
    """A streamed probe is fetched 5,000 rows at a time (a server-side cursor on PostgreSQL)."""
    return {"stream_results": True, "yield_per": 5_000} if query.stream else {}


class Stager:
    """Creates the staging tables of one import and bulk-writes rows into them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        if self.dialect not in _DDL:
            raise ValueError(f"unsupported database {self.dialect!r} (PostgreSQL or SQLite)")
        self.created: set[str] = set()
        self.drop()

    def _ensure(self, table: str) -> None:
        """Create the staging table on first use."""
        if table not in self.created:
            self.conn.exec_driver_sql(_DDL[self.dialect][table])
            self.created.add(table)

    def time(self, value: datetime | None) -> Any:
        """PostgreSQL takes aware datetimes; SQLite gets SQLAlchemy's naive-UTC text form."""
        if value is None or self.dialect == "postgresql":
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def date(self, value: date) -> Any:
        return value if self.dialect == "postgresql" else value.isoformat()

    def replace(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Empty a staging table, then ``write`` (staging tables are reused within an import)."""
        if table in self.created:
            self.conn.exec_driver_sql(f"DELETE FROM {table}")
        self.write(table, rows)

    def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Rows into a staging table (columns as in ``COLUMNS``).

        On PostgreSQL a table joined against the warehouse is ANALYZEd: autovacuum never sees
        temp tables, and without statistics the planner guesses ~1,400 rows and hash-joins a
        100-row key list against a whole enterprise's events (250 ms a file after a year of
        history instead of 1 ms). ``stage_rejects`` is only copied out whole: never analyzed.
        """
        if not rows:
            return
        self._ensure(table)
        if self.insert(table, COLUMNS[table], rows) and self.dialect == "postgresql" and table in _JOINED:
            self.conn.exec_driver_sql(f"ANALYZE {table}")

    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> int:
        """Bulk insert: COPY on PostgreSQL (the caller guarantees no conflicts); on SQLite an
        ``INSERT … ON CONFLICT DO NOTHING`` per row. Returns the rows written."""
        if not rows:
            return 0
        if self.dialect == "postgresql":
            raw = self.conn.connection.dbapi_connection
            with (
                raw.cursor() as cursor,  # type: ignore[union-attr]
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(_pg_types(columns))
                for row in rows:
                    copy.write_row(row)
            return len(rows)
        marks = ", ".join("?" for _ in columns.split(","))
        result = self.conn.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
        )
        return int(result.rowcount)

    def probe(self, keys: Sequence[str] | StagedKeys, enterprise: str, query: ProbeQuery) -> Iterable[Any]:
        """``query`` for each key: its ``where`` names the key as ``k.key`` and the enterprise as
        ``k.ent``. Rows come in no order.

        PostgreSQL, up to ``PROBE_MAX_KEYS`` keys: an array and a LATERAL subquery, one index
        probe per key, with no staging table to fill and ANALYZE. The enterprise travels as a
        column of ``k`` (a subquery kept whole by OFFSET 0), not as a constant: the planner then
        estimates ``enterprise_id = k.ent`` from the column's distinct count, as for any
        enterprise, instead of from the statistics of the last ANALYZE — which know nothing of an
        enterprise whose year is being imported, estimate one row for it, and so once picked the
        (enterprise, time) index and filtered every row of the enterprise for each key.
        More keys, or SQLite: staged in ``stage_keys`` and joined (``CROSS JOIN`` puts the keys
        first on SQLite). ``StagedKeys``: joined to ``stage_keys`` as it is.
        """
        if isinstance(keys, StagedKeys):
            return self._probe_staged(enterprise, query)
        if self.as_array(keys):
            return self._probe_array(keys, enterprise, query)
        self._stage_keys(keys, "text")
        return self._probe_staged(enterprise, query)

    def probe_each(self, keys: Sequence[str], enterprise: str, queries: Sequence[ProbeQuery]) -> list[Any]:
        """The rows of ``probe`` for every query (their ``params`` merged), in one statement:
        the queries' UNION ALL inside the probe (a live sync reads an event's own rows and the
        other sightings together, one round trip instead of two); the keys staged at most once."""
        params = _merged_params(queries)
        if self.as_array(keys):
            sql = _lateral(queries, "probe_keys")
            return list(self.conn.execute(statement(sql), named(sql, {**params, "probe_keys": list(keys),
                                                                           "probe_ent": enterprise})))
        self._stage_keys(keys, "text")
        sql = " UNION ALL ".join(
            f"SELECT {q.select} FROM {_STAGED_KEYS} CROSS JOIN {q.tables} WHERE {q.where}" for q in queries
        )
        return list(self.conn.execute(statement(sql), named(sql, {**params, "probe_ent": enterprise})))

    def probe_sets(
        self, enterprise: str, sets: Sequence[tuple[Sequence[str], Sequence[ProbeQuery]]],
    ) -> list[Any] | None:
        """``probe_each`` of several key lists, each with its own queries, in one statement (a
        gather round's bridge, Local and same-call look-ups: one round trip instead of three).
        Only where every list travels as an array (PostgreSQL, up to ``PROBE_MAX_KEYS`` keys) and
        the queries select the same columns; None otherwise: the caller probes set by set."""
        sets = [(keys, queries) for keys, queries in sets if keys]
        if not sets:
            return []
        if not all(self.as_array(keys) for keys, _ in sets):
            return None
        params: dict[str, Any] = {"probe_ent": enterprise}
        parts = []
        for n, (keys, queries) in enumerate(sets):
            params.update(_merged_params(queries))
            params[f"probe_keys_{n}"] = list(keys)
            parts.append(_lateral(queries, f"probe_keys_{n}"))
        sql = " UNION ALL ".join(parts)
        return list(self.conn.execute(statement(sql), named(sql, params)))

    def _probe_array(self, keys: Sequence[str], enterprise: str, query: ProbeQuery) -> Iterable[Any]:
        select, tables, where, params = query.select, query.tables, query.where, query.params
        order = f" ORDER BY {query.order}" if query.order else ""
        sql = f"SELECT x.* FROM {_ARRAY_KEYS} CROSS JOIN LATERAL (SELECT {select} FROM {tables} WHERE {where} OFFSET 0) AS x{order}"
        values = {**params, "probe_keys": list(keys), "probe_ent": enterprise}
        return self.conn.execute(statement(sql), named(sql, values), execution_options=_options(query))

    def _probe_staged(self, enterprise: str, query: ProbeQuery) -> Iterable[Any]:
        """``query`` joined to the keys ``_stage_keys`` put in ``stage_keys``."""
        select, tables, where, params = query.select, query.tables, query.where, query.params
        order = f" ORDER BY {query.order}" if query.order else ""
        sql = f"SELECT {select} FROM {_STAGED_KEYS} CROSS JOIN {tables} WHERE {where}{order}"
        return self.conn.execute(statement(sql), named(sql, {**params, "probe_ent": enterprise}),
                                 execution_options=_options(query))

    def key_filter(
        self, column: str, keys: Sequence[Any] | StagedKeys, *, key_type: str = "text",
    ) -> tuple[str, dict[str, Any]]:
        """A WHERE condition "``column`` is one of ``keys``" and its parameters (see ``probe``)."""
        if isinstance(keys, StagedKeys):
            return f"{column} IN (SELECT key FROM stage_keys)", {}
        if self.as_array(keys):
            return f"{column} = ANY(CAST(:probe_keys AS {key_type}[]))", {"probe_keys": list(keys)}
        table, staged = self._stage_keys(keys, key_type)
        return f"{column} IN (SELECT {staged} FROM {table})", {}

    def stage_distinct(self, source: str) -> StagedKeys:
        """``stage_keys`` becomes the distinct keys of the staging table ``source`` (written with
        repeats, a batch at a time), ANALYZEd as ``write`` does, without a round trip through
        the client."""
        self._ensure(source)
        if "stage_keys" in self.created:
            self.conn.exec_driver_sql("DELETE FROM stage_keys")
        self._ensure("stage_keys")
        count = self.conn.exec_driver_sql(f"INSERT INTO stage_keys (key) SELECT DISTINCT key FROM {source}").rowcount
        if self.dialect == "postgresql":
            self.conn.exec_driver_sql("ANALYZE stage_keys")
        return StagedKeys(int(count))

    def as_array(self, keys: Sized) -> bool:
        """Whether these keys travel as an array parameter rather than a staging table."""
        return self.dialect == "postgresql" and len(keys) <= PROBE_MAX_KEYS

    def _stage_keys(self, keys: Sequence[Any], key_type: str) -> tuple[str, str]:
        """Stage the keys; returns the staging table and its column."""
        table, column = ("stage_keys", "key") if key_type == "text" else ("stage_ids", "id")
        self.replace(table, [(k,) for k in keys])
        return table, column

    def drop(self) -> None:
        if self.dialect == "sqlite":  # PostgreSQL drops them at commit
            for table in TABLES:
                self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")
        self.created.clear()
