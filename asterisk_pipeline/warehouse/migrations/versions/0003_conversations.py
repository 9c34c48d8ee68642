"""Calls are conversations (SPEC §3, §4.2): call columns for the chain, ``call_legs``,
``call_participants.talk_order``, ``event_sightings``, and (enterprise_id, unique_id) unique.

Existing calls get their primary leg here, so imports keep finding them; the conversations
themselves are recomputed by ``asterisk-pipeline calls rebuild`` (run it after upgrading).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UtcTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint("uq_calls_unique_id", type_="unique")
        batch.add_column(sa.Column("answered_by", sa.Text))
        batch.add_column(sa.Column("answered_at", UtcTime))
        batch.add_column(sa.Column("final_extension", sa.Text))
        batch.add_column(sa.Column("transfer_chain", sa.JSON))
        batch.add_column(sa.Column("leg_count", sa.Integer, nullable=False, server_default="1"))
        batch.create_unique_constraint("uq_calls_enterprise_id_unique_id", ["enterprise_id", "unique_id"])
    with op.batch_alter_table("call_participants") as batch:
        batch.add_column(sa.Column("talk_order", sa.Integer))

    op.create_table(
        "call_legs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id", sa.BigInteger,
            sa.ForeignKey("calls.id", ondelete="CASCADE", name="fk_call_legs_call_id_calls"),
        ),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("unique_id", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("call_type", sa.Text),
        sa.Column("call_status", sa.Text),
        sa.Column("phone_number", sa.Text),
        sa.Column("extensions", sa.Text),
        sa.Column("start_time", UtcTime),
        sa.Column("end_time", UtcTime),
        sa.Column("raw_data", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_call_legs"),
        sa.UniqueConstraint("enterprise_id", "unique_id", name="uq_call_legs_enterprise_id_unique_id"),
        sa.CheckConstraint("role IN ('primary', 'leg')", name="ck_call_legs_role"),
    )
    op.create_index("ix_call_legs_call_id", "call_legs", ["call_id"])

    op.create_table(
        "event_sightings",
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("source_table", sa.Text, nullable=False),
        sa.Column("file_date", sa.Date, nullable=False),
        sa.Column("source_id", sa.BigInteger, nullable=False),
        sa.Column("unique_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("body_hash", sa.LargeBinary, nullable=False),
        sa.Column("event_timestamp", UtcTime),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("bridge_id", sa.Text),
        sa.Column("local_base", sa.Text),
        sa.PrimaryKeyConstraint(
            "enterprise_id", "source_table", "file_date", "source_id", name="pk_event_sightings"
        ),
    )
    op.create_index("ix_event_sightings_enterprise_id_unique_id", "event_sightings", ["enterprise_id", "unique_id"])
    op.create_index(
        "ix_event_sightings_enterprise_id_event_timestamp", "event_sightings",
        ["enterprise_id", "event_timestamp"],
    )
    for column in ("bridge_id", "local_base"):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_event_sightings_enterprise_id_{column}", "event_sightings", ["enterprise_id", column],
            postgresql_where=where, sqlite_where=where,
        )

    # Every existing call is (so far) a conversation of one UniqueId: its primary leg.
    op.execute(
        "INSERT INTO call_legs (call_id, enterprise_id, unique_id, role, call_type, call_status,"
        " phone_number, start_time, end_time, raw_data)"
        " SELECT id, enterprise_id, unique_id, 'primary', call_type, call_status, phone_number,"
        " start_time, end_time, raw_data FROM calls"
    )
    op.execute("UPDATE calls SET transfer_chain = '[]' WHERE transfer_chain IS NULL")


def downgrade() -> None:
    op.drop_table("event_sightings")
    op.drop_table("call_legs")
    with op.batch_alter_table("call_participants") as batch:
        batch.drop_column("talk_order")
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint("uq_calls_enterprise_id_unique_id", type_="unique")
        for column in ("leg_count", "transfer_chain", "final_extension", "answered_at", "answered_by"):
            batch.drop_column(column)
        batch.create_unique_constraint("uq_calls_unique_id", ["unique_id"])
