"""Indexes that keep a call search fast over a year of a 300-PBX fleet (SPEC §5 ``GET /calls``):

- ``call_participants (extension, call_id)``: the calls an extension rang in or held, fleet-wide
  (the unique (call_id, extension) serves the per-call probe of a search within an enterprise);
- ``calls (enterprise_id, start_time, id)``, on PostgreSQL carrying ``is_answered``, ``call_type``
  and ``shape``: an enterprise's calls newest first, page after page, without a sort (the keyset
  order of a search), and its ids found from the index alone — only the rows shown are read
  from the table (``search.search_calls`` asks for ids first).

A search by number uses ``calls (enterprise_id, phone_key, start_time)`` and
``calls (phone_key, start_time)`` of migration 0006.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_call_participants_extension_call_id", "call_participants", ["extension", "call_id"])
    op.create_index("ix_calls_enterprise_id_start_time_id", "calls", ["enterprise_id", "start_time", "id"],
                    postgresql_include=["is_answered", "call_type", "shape"])


def downgrade() -> None:
    op.drop_index("ix_calls_enterprise_id_start_time_id", "calls")
    op.drop_index("ix_call_participants_extension_call_id", "call_participants")
