"""Initial central schema: calls, participants, events, rejects, cursors, sync statistics.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UtcTime = sa.DateTime(timezone=True)
NOW = sa.func.current_timestamp()


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def upgrade() -> None:
    # Owned by the platform in production: create it only where it does not exist yet.
    if not sa.inspect(op.get_bind()).has_table("enterprises"):
        op.create_table(
            "enterprises",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("number", sa.Text, nullable=False),
            sa.Column("name", sa.Text),
            sa.Column("host", sa.Text),
            sa.Column("secret", sa.Text),
            sa.Column("ip", sa.Text),
            sa.Column("is_enabled", sa.Boolean, nullable=False, server_default="1"),
            sa.Column("active", sa.Boolean, nullable=False, server_default="1"),
            sa.Column("name2", sa.Text),
            sa.UniqueConstraint("number", name="uq_enterprises_number"),
        )

    op.create_table(
        "calls",
        _id(),
        sa.Column("unique_id", sa.Text, nullable=False),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("token", sa.Text),
        sa.Column("start_time", UtcTime),
        sa.Column("end_time", UtcTime),
        sa.Column("duration", sa.Integer),
        sa.Column("phone_number", sa.Text),
        sa.Column("trunk", sa.Text),
        sa.Column("main_extension", sa.Text),
        sa.Column("extensions_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("call_type", sa.Text),
        sa.Column("call_status", sa.Text),
        sa.Column("is_answered", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("data_source", sa.Text, nullable=False),
        sa.Column("asterisk_host", sa.Text),
        sa.Column("raw_data", sa.JSON),
        sa.Column("created_at", UtcTime, nullable=False, server_default=NOW),
        sa.UniqueConstraint("unique_id", name="uq_calls_unique_id"),
        sa.CheckConstraint(
            "data_source IN ('downloaded', 'live', 'migrated')", name="ck_calls_data_source"
        ),
    )
    op.create_index(
        "ix_calls_enterprise_id_data_source_start_time",
        "calls",
        ["enterprise_id", "data_source", "start_time"],
    )
    op.create_index("ix_calls_data_source_start_time", "calls", ["data_source", "start_time"])
    op.create_index("ix_calls_start_time", "calls", ["start_time"])

    op.create_table(
        "call_participants",
        _id(),
        sa.Column(
            "call_id",
            sa.BigInteger,
            sa.ForeignKey("calls.id", ondelete="CASCADE", name="fk_call_participants_call_id_calls"),
            nullable=False,
        ),
        sa.Column("extension", sa.Text, nullable=False),
        sa.Column("participant_status", sa.Text, nullable=False),
        sa.Column("ring_order", sa.Integer, nullable=False),
        sa.Column("dial_start", UtcTime),
        sa.Column("answer_time", UtcTime),
        sa.Column("hangup_time", UtcTime),
        sa.UniqueConstraint("call_id", "extension", name="uq_call_participants_call_id_extension"),
        sa.CheckConstraint(
            "participant_status IN ('answered', 'no_answer')", name="ck_call_participants_status"
        ),
    )

    op.create_table(
        "call_events",
        _id(),
        sa.Column("call_id", sa.BigInteger),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("unique_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("event_timestamp", UtcTime),
        sa.Column("data_source", sa.Text, nullable=False),
        sa.Column("raw_data", sa.JSON, nullable=False),
        sa.Column("body_hash", sa.LargeBinary, nullable=False),
        sa.Column("source_table", sa.Text, nullable=False),
        sa.Column("source_id", sa.BigInteger, nullable=False),
        sa.Column("file_date", sa.Date, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("status", sa.Text),
        sa.Column("created_at", UtcTime, nullable=False, server_default=NOW),
        sa.UniqueConstraint(
            "enterprise_id",
            "unique_id",
            "event_type",
            "body_hash",
            name="uq_call_events_identity",
        ),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])

    op.create_table(
        "rejected_events",
        _id(),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("file_date", sa.Date, nullable=False),
        sa.Column("source_table", sa.Text, nullable=False),
        sa.Column("source_id", sa.BigInteger, nullable=False),
        sa.Column("data_source", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text),
        sa.Column("unique_id", sa.Text),
        sa.Column("raw_text", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UtcTime, nullable=False, server_default=NOW),
        sa.UniqueConstraint(
            "enterprise_id",
            "file_date",
            "source_table",
            "source_id",
            name="uq_rejected_events_source",
        ),
    )

    op.create_table(
        "sync_cursors",
        sa.Column("enterprise_id", sa.Text, primary_key=True),
        sa.Column("file_date", sa.Date, primary_key=True),
        sa.Column("source_table", sa.Text, primary_key=True),
        sa.Column("last_source_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcTime, nullable=False),
    )

    op.create_table(
        "download_sync",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("asterisk_host", sa.Text, nullable=False, server_default=""),
        sa.Column("last_check_timestamp", UtcTime),
        sa.Column("last_successful_sync", UtcTime),
        sa.Column("last_failed_sync", UtcTime),
        sa.Column("total_downloaded_events", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failed_events_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_error_message", sa.Text),
        sa.Column("updated_at", UtcTime),
        sa.UniqueConstraint(
            "enterprise_id", "asterisk_host", name="uq_download_sync_enterprise_id_asterisk_host"
        ),
    )

    op.create_table(
        "sync_runs",
        _id(),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("asterisk_host", sa.Text),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("file_date", sa.Date),
        sa.Column("source_table", sa.Text),
        sa.Column("started_at", UtcTime, nullable=False),
        sa.Column("finished_at", UtcTime, nullable=False),
        *[
            sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
            for name in (
                "rows_read", "new_calls", "updated_calls", "new_events", "duplicates",
                "rejected", "conflicts", "bytes_transferred",
            )
        ],
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error_kind", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("dagster_run_id", sa.Text),
        sa.CheckConstraint("status IN ('success', 'failed')", name="ck_sync_runs_status"),
    )
    op.create_index("ix_sync_runs_enterprise_id_started_at", "sync_runs", ["enterprise_id", "started_at"])


def downgrade() -> None:
    # enterprises is the platform's table: never dropped here.
    for table in (
        "sync_runs", "download_sync", "sync_cursors", "rejected_events",
        "call_events", "call_participants", "calls",
    ):
        op.drop_table(table)
