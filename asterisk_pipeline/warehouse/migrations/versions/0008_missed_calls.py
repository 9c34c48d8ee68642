"""Missed calls and their follow-up (SPEC §4.7): the ``missed_calls`` table, filled for the
calls already stored (the same rule and maintenance every import runs, one enterprise at a time,
with the default 7-day window; ``calls rebuild`` recomputes with ``ASTERISK_MISSED_WINDOW_DAYS``).

Revision ID: 0008
Revises: 0007
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from asterisk_pipeline.followup import DEFAULT_WINDOW
from asterisk_pipeline.sync.missed import refill_enterprise

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UtcTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "missed_calls",
        sa.Column("call_id", sa.BigInteger, sa.ForeignKey("calls.id", ondelete="CASCADE",
                  name="fk_missed_calls_call_id_calls"), nullable=False),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("phone_number", sa.Text),
        sa.Column("phone_key", sa.Text),
        sa.Column("missed_at", UtcTime, nullable=False),
        sa.Column("expires_at", UtcTime, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("resolved_call_id", sa.BigInteger, sa.ForeignKey(
            "calls.id", ondelete="SET NULL", name="fk_missed_calls_resolved_call_id_calls")),
        sa.Column("resolved_at", UtcTime),
        sa.Column("resolved_by", sa.Text),
        sa.Column("seconds_to_resolution", sa.Integer),
        sa.Column("callback_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("call_id", name="pk_missed_calls"),
        sa.CheckConstraint("status IN ('open', 'called_back', 'got_through', 'expired')",
                           name="ck_missed_calls_status"),
    )
    op.create_index("ix_missed_calls_enterprise_id_phone_key_missed_at", "missed_calls",
                    ["enterprise_id", "phone_key", "missed_at"])
    op.create_index("ix_missed_calls_enterprise_id_missed_at_call_id", "missed_calls",
                    ["enterprise_id", "missed_at", "call_id"])
    op.create_index("ix_missed_calls_missed_at_call_id", "missed_calls", ["missed_at", "call_id"])
    op.create_index("ix_missed_calls_resolved_call_id", "missed_calls", ["resolved_call_id"])
    op.create_index("ix_missed_calls_expires_at", "missed_calls", ["expires_at"],
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    conn = op.get_bind()
    now = datetime.now(UTC)
    for (enterprise,) in conn.execute(sa.text("SELECT DISTINCT enterprise_id FROM calls")).fetchall():
        refill_enterprise(conn, enterprise, DEFAULT_WINDOW, now)


def downgrade() -> None:
    op.drop_table("missed_calls")
