"""Indexes for the sidecar: newest successful sync per enterprise and flow (health, metrics,
freshness), and the syncs of one Dagster run (``?wait=true`` statistics).

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_sync_runs_enterprise_id_flow_status_finished_at",
        "sync_runs",
        ["enterprise_id", "flow", "status", "finished_at"],
    )
    op.create_index("ix_sync_runs_dagster_run_id", "sync_runs", ["dagster_run_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_runs_dagster_run_id", table_name="sync_runs")
    op.drop_index("ix_sync_runs_enterprise_id_flow_status_finished_at", table_name="sync_runs")
