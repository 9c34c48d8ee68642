"""The central schema (SPEC §3) as SQLAlchemy Core tables, for PostgreSQL and SQLite alike.

The Alembic migrations create exactly this (a test compares them). ``enterprises`` belongs to
the platform in production; it is described here so that the pipeline can read it, and created
by the first migration only where it is absent.

Timestamps are UTC: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite, read back as aware
UTC datetimes on both (``UtcTime``, see ``utc.py``).
``raw_data`` is ``json`` (validated text), not ``jsonb``: it is written a million rows at a time
and read rarely, and ``json`` keeps bodies byte-exact, ``\\u0000`` escapes included.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from .utc import UtcDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# BIGINT identities on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
UtcTime = UtcDateTime()

enterprises = Table(
    "enterprises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("host", Text),
    Column("secret", Text),
    Column("ip", Text),
    Column("is_enabled", Boolean, nullable=False, server_default="1"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("name2", Text),
)

calls = Table(
    "calls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("unique_id", Text, nullable=False),  # the conversation's primary UniqueId
    Column("enterprise_id", Text, nullable=False),
    Column("token", Text),
    Column("start_time", UtcTime),
    Column("end_time", UtcTime),
    Column("duration", Integer),
    Column("phone_number", Text),
    Column("trunk", Text),
    Column("main_extension", Text),
    Column("extensions_count", Integer, nullable=False, server_default="0"),
    Column("call_type", Text),
    Column("call_status", Text),
    Column("is_answered", Boolean, nullable=False, server_default="0"),
    Column("data_source", Text, nullable=False),
    Column("asterisk_host", Text),
    Column("raw_data", JSON),
    Column("created_at", UtcTime, nullable=False, server_default=func.current_timestamp()),
    Column("answered_by", Text),
    Column("answered_at", UtcTime),
    Column("final_extension", Text),
    Column("transfer_chain", JSON),
    Column("leg_count", Integer, nullable=False, server_default="1"),
    Column("shape", Text),  # SPEC §4.2, one of model.SHAPES (NULL until computed)
    # SPEC §4.7: numbers.number_key(phone_number), the key a search or a follow-up matches on.
    Column("phone_key", Text),
    # UniqueIds are unique per PBX only (SPEC §3).
    UniqueConstraint("enterprise_id", "unique_id"),
    CheckConstraint("data_source IN ('downloaded', 'live', 'migrated')", name="data_source"),
    Index(None, "enterprise_id", "data_source", "start_time"),
    Index(None, "data_source", "start_time"),
    Index(None, "start_time"),
    Index(None, "enterprise_id", "phone_key", "start_time"),
    Index(None, "phone_key", "start_time"),
    # a search's keyset order per enterprise, its usual filters answered from the index alone (0009)
    Index(None, "enterprise_id", "start_time", "id", postgresql_include=["is_answered", "call_type", "shape"]),
)

call_participants = Table(
    "call_participants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("call_id", BigInteger, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("extension", Text, nullable=False),
    Column("participant_status", Text, nullable=False),
    Column("ring_order", Integer, nullable=False),
    Column("dial_start", UtcTime),
    Column("answer_time", UtcTime),
    Column("hangup_time", UtcTime),
    Column("talk_order", Integer),
    UniqueConstraint("call_id", "extension"),
    CheckConstraint("participant_status IN ('answered', 'no_answer')", name="status"),
    Index(None, "extension", "call_id"),  # a search by extension, fleet-wide (0009)
)

# Every UniqueId folded into a conversation (SPEC §3): call_id is NULL only for an unlinkable
# forwarding leg (§4.2 rule 3).
call_legs = Table(
    "call_legs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("call_id", BigInteger, ForeignKey("calls.id", ondelete="CASCADE")),
    Column("enterprise_id", Text, nullable=False),
    Column("unique_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("channel", Text),
    Column("call_type", Text),
    Column("call_status", Text),
    Column("phone_number", Text),
    Column("extensions", Text),
    Column("start_time", UtcTime),
    Column("end_time", UtcTime),
    Column("raw_data", JSON),
    Column("link", Text),  # SPEC §4.2 rules 1-3, one of model.LINKS (NULL until computed)
    UniqueConstraint("enterprise_id", "unique_id"),
    CheckConstraint("role IN ('primary', 'leg')", name="role"),
    Index(None, "call_id"),
)


def _key_index(key: str) -> Index:
    """A partial index a read gathers a conversation's other rows by (its bridge, its Local
    channel): on the events' own rows and on the other sightings alike (0010)."""
    cond = f"{key} IS NOT NULL"
    return Index(None, "enterprise_id", key, postgresql_where=text(cond), sqlite_where=text(cond))


# The source rows a conversation is assembled from besides its events' own rows (SPEC §4.3): a
# row whose (source_table, file_date, source_id) is not its event's position in call_events —
# delivery retries and APIlogs bridge rows whose bodies collapse into one event, the same event
# read again in another file or table. Every reader reads "each event's own row" UNION ALL these
# (``conversation_store``), so that the assembly and `calls rebuild` read exactly what the import
# read. The body is the event's, by identity; bridge_id and local_base are the keys that pull a
# conversation's other rows in.
event_sightings = Table(
    "event_sightings",
    metadata,
    Column("enterprise_id", Text, primary_key=True),
    Column("source_table", Text, primary_key=True),
    Column("file_date", Date, primary_key=True),
    Column("source_id", BigInteger, primary_key=True),
    Column("unique_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body_hash", LargeBinary, nullable=False),
    Column("event_timestamp", UtcTime),
    Column("delivered", Boolean, nullable=False),
    Column("bridge_id", Text),
    Column("local_base", Text),
    Index(None, "enterprise_id", "unique_id"),
    Index(None, "enterprise_id", "event_timestamp"),
    _key_index("bridge_id"),
    _key_index("local_base"),
)

# call_id has no foreign key on purpose: events are stored before their call exists, a million
# at a time, and the quality checks report any event pointing at a missing call.
call_events = Table(
    "call_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("call_id", BigInteger),
    Column("enterprise_id", Text, nullable=False),
    Column("unique_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event_timestamp", UtcTime),
    Column("data_source", Text, nullable=False),
    Column("raw_data", JSON, nullable=False),
    Column("body_hash", LargeBinary, nullable=False),
    Column("source_table", Text, nullable=False),
    Column("source_id", BigInteger, nullable=False),
    Column("file_date", Date, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("status", Text),
    Column("created_at", UtcTime, nullable=False, server_default=func.current_timestamp()),
    # The conversation keys of the event's own row, as for a sighting (NULL for an event no
    # conversation reads); the rows of an event read elsewhere too are in event_sightings (0010).
    Column("bridge_id", Text),
    Column("local_base", Text),
    # SPEC §4.3 identity; its prefix also serves "events of this UniqueId".
    UniqueConstraint(
        "enterprise_id", "unique_id", "event_type", "body_hash", name="uq_call_events_identity"
    ),
    Index(None, "call_id"),
    # what a read gathers around itself, and fleet health's newest event
    Index(None, "enterprise_id", "event_timestamp"),
    _key_index("bridge_id"),
    _key_index("local_base"),
    # the rows of one day file and table (a rebuild; whether other days are stored). Day before
    # table: SQLite would take (enterprise, table) for a UniqueId's or a key's rows.
    Index(None, "enterprise_id", "file_date", "source_table"),
)

# Days stored by a version that recorded no sightings (before 0003) and not rebuilt since: that
# version collapsed identical APIlogs bridge bodies into one event, so `calls rebuild` replays
# their day file when it can (0010 lists them; the rebuild of the day removes it).
unsighted_days = Table(
    "unsighted_days",
    metadata,
    Column("enterprise_id", Text, primary_key=True),
    Column("file_date", Date, primary_key=True),
    Column("source_table", Text, primary_key=True),
)

rejected_events = Table(
    "rejected_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Text, nullable=False),
    Column("file_date", Date, nullable=False),
    Column("source_table", Text, nullable=False),
    Column("source_id", BigInteger, nullable=False),
    Column("data_source", Text, nullable=False),
    Column("event_type", Text),
    Column("unique_id", Text),
    Column("raw_text", Text),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcTime, nullable=False, server_default=func.current_timestamp()),
    UniqueConstraint(
        "enterprise_id", "file_date", "source_table", "source_id", name="uq_rejected_events_source"
    ),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("enterprise_id", Text, primary_key=True),
    Column("file_date", Date, primary_key=True),
    Column("source_table", Text, primary_key=True),
    Column("last_source_id", BigInteger, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
    # Which file was read (a recreated file under the same name is read again from its start).
    Column("id_offset", BigInteger, nullable=False, server_default="0"),
    Column("first_row", Text),
    Column("last_row", Text),
)

download_sync = Table(
    "download_sync",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Text, nullable=False),
    Column("asterisk_host", Text, nullable=False, server_default=""),
    Column("last_check_timestamp", UtcTime),
    Column("last_successful_sync", UtcTime),
    Column("last_failed_sync", UtcTime),
    Column("total_downloaded_events", BigInteger, nullable=False, server_default="0"),
    Column("failed_events_count", BigInteger, nullable=False, server_default="0"),
    Column("last_error_message", Text),
    Column("updated_at", UtcTime),
    UniqueConstraint("enterprise_id", "asterisk_host"),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Text, nullable=False),
    Column("asterisk_host", Text),
    Column("flow", Text, nullable=False),
    Column("file_date", Date),
    Column("source_table", Text),
    Column("started_at", UtcTime, nullable=False),
    Column("finished_at", UtcTime, nullable=False),
    Column("rows_read", BigInteger, nullable=False, server_default="0"),
    Column("new_calls", BigInteger, nullable=False, server_default="0"),
    Column("updated_calls", BigInteger, nullable=False, server_default="0"),
    Column("new_events", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
    Column("rejected", BigInteger, nullable=False, server_default="0"),
    Column("conflicts", BigInteger, nullable=False, server_default="0"),
    Column("bytes_transferred", BigInteger, nullable=False, server_default="0"),
    Column("duration_s", Float, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_kind", Text),
    Column("error", Text),
    Column("dagster_run_id", Text),
    # Set when the file at the path was not the one read before and was read again from its start.
    Column("file_replaced", Text),
    CheckConstraint("status IN ('success', 'failed')", name="status"),
    Index(None, "enterprise_id", "started_at"),
    # health / metrics / freshness: the newest successful sync per enterprise and flow
    Index(None, "enterprise_id", "flow", "status", "finished_at"),
    Index(None, "dagster_run_id"),  # the statistics of one Dagster run (sidecar ?wait=true)
)

# Fleet health (SPEC §4.8): the last status alerted per enterprise. A change is claimed here
# (a conditional UPDATE or an INSERT on the key) before its alert is sent, so two senders never
# send one change twice; delivered_at stays NULL until the webhook took it (retried next cycle).
fleet_alerts = Table(
    "fleet_alerts",
    metadata,
    Column("enterprise_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("old_status", Text),
    Column("since", UtcTime),
    Column("changed_at", UtcTime, nullable=False),
    Column("claim", Text),
    Column("claimed_at", UtcTime),
    Column("delivered_at", UtcTime),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_attempt_error", Text),
)

# The PBX clock's offset from the central clock, as the last live sync measured it (SSH PBXes
# answer `date +%s`; a local mirror has no clock of its own and leaves no row).
pbx_clocks = Table(
    "pbx_clocks",
    metadata,
    Column("enterprise_id", Text, primary_key=True),
    Column("offset_s", Float, nullable=False),
    Column("measured_at", UtcTime, nullable=False),
)

# SPEC §4.7: one row per missed conversation (incoming, nobody held it) with its follow-up,
# rewritten by every import and rebuild for the numbers it touched (``sync/missed.py``).
# ``phone_key`` is the call's number key (what the maintenance finds rows by); ``expires_at`` the
# end of the follow-up window: an 'open' row past it reads as 'expired' (``followup``) until the
# next import of the enterprise, or the ``missed_calls`` asset, stores it so.
missed_calls = Table(
    "missed_calls",
    metadata,
    Column("call_id", BigInteger, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("enterprise_id", Text, nullable=False),
    Column("phone_number", Text),
    Column("phone_key", Text),
    Column("missed_at", UtcTime, nullable=False),
    Column("expires_at", UtcTime, nullable=False),
    Column("status", Text, nullable=False),
    Column("resolved_call_id", BigInteger, ForeignKey("calls.id", ondelete="SET NULL")),
    Column("resolved_at", UtcTime),
    Column("resolved_by", Text),
    Column("seconds_to_resolution", Integer),
    Column("callback_attempts", Integer, nullable=False, server_default="0"),
    CheckConstraint("status IN ('open', 'called_back', 'got_through', 'expired')", name="status"),
    Index(None, "enterprise_id", "phone_key", "missed_at"),
    Index(None, "enterprise_id", "missed_at", "call_id"),  # listings, keyset pages
    Index(None, "missed_at", "call_id"),  # fleet-wide listings
    Index(None, "resolved_call_id"),  # a deleted call's ON DELETE SET NULL
    Index(
        None, "expires_at",
        postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'"),
    ),
)
