"""Cursors know which file they read (SPEC §3): ``sync_cursors.id_offset``, ``first_row`` and
``last_row``; ``sync_runs.file_replaced`` records a file read again because it was recreated.

Existing cursors keep offset 0 and no digests: the first read after the upgrade still notices a
file whose rows end below the cursor, and records the digests from then on.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_cursors", sa.Column("id_offset", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("sync_cursors", sa.Column("first_row", sa.Text))
    op.add_column("sync_cursors", sa.Column("last_row", sa.Text))
    op.add_column("sync_runs", sa.Column("file_replaced", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("file_replaced")
    with op.batch_alter_table("sync_cursors") as batch:
        batch.drop_column("last_row")
        batch.drop_column("first_row")
        batch.drop_column("id_offset")
