"""Fleet health (SPEC §4.8): ``fleet_alerts`` (the last status alerted per enterprise, claimed
before its alert is sent) and ``pbx_clocks`` (the PBX clock's measured offset).

The health queries need no new index: sync_runs (enterprise_id, flow, status, finished_at),
sync_runs (enterprise_id, started_at) and event_sightings (enterprise_id, event_timestamp)
answer each of them by index probes.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

UtcTime = sa.DateTime(timezone=True)  # as 0001: timestamptz on PostgreSQL

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_alerts",
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("old_status", sa.Text),
        sa.Column("since", UtcTime),
        sa.Column("changed_at", UtcTime, nullable=False),
        sa.Column("claim", sa.Text),
        sa.Column("claimed_at", UtcTime),
        sa.Column("delivered_at", UtcTime),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_attempt_error", sa.Text),
        sa.PrimaryKeyConstraint("enterprise_id", name="pk_fleet_alerts"),
    )
    op.create_table(
        "pbx_clocks",
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("offset_s", sa.Float, nullable=False),
        sa.Column("measured_at", UtcTime, nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id", name="pk_pbx_clocks"),
    )


def downgrade() -> None:
    op.drop_table("pbx_clocks")
    op.drop_table("fleet_alerts")
