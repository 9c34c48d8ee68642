"""Every call carries its outside number's matching key (SPEC §4.7): ``calls.phone_key``, indexed
with the start time, per enterprise and fleet-wide, so that a search by number and a missed
call's follow-up are index lookups.

Existing calls get their key here (the same ``numbers.number_key`` the import uses).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from asterisk_pipeline.numbers import number_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    op.add_column("calls", sa.Column("phone_key", sa.Text))
    _fill_keys()
    op.create_index("ix_calls_enterprise_id_phone_key_start_time", "calls",
                    ["enterprise_id", "phone_key", "start_time"])
    op.create_index("ix_calls_phone_key_start_time", "calls", ["phone_key", "start_time"])


def _fill_keys() -> None:
    """Key the existing calls in batches by id (bounded memory on a warehouse of millions)."""
    conn = op.get_bind()
    select = sa.text("SELECT id, phone_number FROM calls WHERE id > :after AND phone_number IS NOT NULL"
                     " ORDER BY id LIMIT :n")
    update = sa.text("UPDATE calls SET phone_key = :key WHERE id = :id")
    after = 0
    while rows := conn.execute(select, {"after": after, "n": _BATCH}).fetchall():
        keyed = [{"id": row_id, "key": number_key(number)} for row_id, number in rows]
        conn.execute(update, [k for k in keyed if k["key"] is not None] or [{"id": -1, "key": None}])
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_calls_phone_key_start_time", "calls")
    op.drop_index("ix_calls_enterprise_id_phone_key_start_time", "calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("phone_key")
