"""Every call says what happened and every leg why it belongs (SPEC §3, §4.2): ``calls.shape``
and ``call_legs.link``, from fixed vocabularies (``model.SHAPES``, ``model.LINKS``).

Existing rows keep NULL until ``asterisk-pipeline calls rebuild`` recomputes them.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("shape", sa.Text))
    op.add_column("call_legs", sa.Column("link", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("call_legs") as batch:
        batch.drop_column("link")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("shape")
