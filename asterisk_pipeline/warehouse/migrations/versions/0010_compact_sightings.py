"""Compact sightings (issue 21): an event's own row is no longer repeated in ``event_sightings``.

``call_events`` gains the conversation keys of its own row (``bridge_id``, ``local_base``) and
the indexes a read gathers by (time, bridge, Local channel, day file); ``event_sightings`` keeps
only the rows that are not their event's own row (retries, collapsed APIlogs bridge rows, the
same event read again elsewhere). Readers read each event's own row UNION ALL those, so a
rebuild reads exactly what it read before (SPEC §4.3).

Days stored by a version without sightings (before 0003, not rebuilt since) can no longer be
told apart by a missing sighting: they are listed in ``unsighted_days`` for ``calls rebuild``.

On PostgreSQL the deleted sightings leave free space that later imports reuse; ``VACUUM FULL
event_sightings`` gives it back to the file system.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# model.CONVERSATION_TYPES as of this revision (an event's own row is a sighting when a
# conversation reads it: a UniqueId and one of these types)
_OWN = ("e.unique_id <> '' AND e.event_type IN"
        " ('bridge', 'bridge_leave', 'dial', 'hangup', 'new_callerid', 'start')")
_AT_POSITION = (
    "s.enterprise_id = e.enterprise_id AND s.source_table = e.source_table"
    " AND s.file_date = e.file_date AND s.source_id = e.source_id"
)
_SAME_EVENT = " AND s.unique_id = e.unique_id AND s.event_type = e.event_type AND s.body_hash = e.body_hash"
_INDEXES = (
    ("ix_call_events_enterprise_id_event_timestamp", ["enterprise_id", "event_timestamp"], None),
    ("ix_call_events_enterprise_id_bridge_id", ["enterprise_id", "bridge_id"], "bridge_id IS NOT NULL"),
    ("ix_call_events_enterprise_id_local_base", ["enterprise_id", "local_base"], "local_base IS NOT NULL"),
    # day first: with the table second, SQLite would take it for a UniqueId's or a key's rows
    ("ix_call_events_enterprise_id_file_date_source_table",
     ["enterprise_id", "file_date", "source_table"], None),
)


def upgrade() -> None:
    op.add_column("call_events", sa.Column("bridge_id", sa.Text))
    op.add_column("call_events", sa.Column("local_base", sa.Text))
    op.create_table(
        "unsighted_days",
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("file_date", sa.Date, nullable=False),
        sa.Column("source_table", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id", "file_date", "source_table", name="pk_unsighted_days"),
    )
    # before anything is deleted: the days whose events a conversation reads lack their sighting
    op.execute(
        "INSERT INTO unsighted_days (enterprise_id, file_date, source_table)"
        " SELECT DISTINCT e.enterprise_id, e.file_date, e.source_table FROM call_events e"
        f" WHERE {_OWN} AND NOT EXISTS (SELECT 1 FROM event_sightings s WHERE {_AT_POSITION})"
    )
    op.execute(
        "UPDATE call_events SET bridge_id = s.bridge_id, local_base = s.local_base"
        " FROM event_sightings s WHERE " + _AT_POSITION.replace("e.", "call_events.")
        + _SAME_EVENT.replace("e.", "call_events.")
        + " AND (s.bridge_id IS NOT NULL OR s.local_base IS NOT NULL)"
    )
    op.execute(
        "DELETE FROM event_sightings WHERE EXISTS (SELECT 1 FROM call_events e WHERE "
        + (_AT_POSITION + _SAME_EVENT).replace("s.", "event_sightings.") + ")"
    )
    for name, columns, where in _INDEXES:
        condition = sa.text(where) if where else None
        op.create_index(name, "call_events", columns, postgresql_where=condition, sqlite_where=condition)


def downgrade() -> None:
    # every event's own row becomes a sighting again (not for a day no sighting was ever stored of)
    op.execute(
        "INSERT INTO event_sightings (enterprise_id, source_table, file_date, source_id, unique_id,"
        " event_type, body_hash, event_timestamp, delivered, bridge_id, local_base)"
        " SELECT e.enterprise_id, e.source_table, e.file_date, e.source_id, e.unique_id,"
        " e.event_type, e.body_hash, e.event_timestamp, e.delivered, e.bridge_id, e.local_base"
        f" FROM call_events e WHERE {_OWN}"
        f" AND NOT EXISTS (SELECT 1 FROM event_sightings s WHERE {_AT_POSITION})"
        " AND NOT EXISTS (SELECT 1 FROM unsighted_days d WHERE d.enterprise_id = e.enterprise_id"
        " AND d.file_date = e.file_date AND d.source_table = e.source_table)"
    )
    for name, _columns, _where in reversed(_INDEXES):
        op.drop_index(name, "call_events")
    op.drop_table("unsighted_days")
    with op.batch_alter_table("call_events") as batch:
        batch.drop_column("local_base")
        batch.drop_column("bridge_id")
