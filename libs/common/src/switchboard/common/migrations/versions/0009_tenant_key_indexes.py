"""Indexes that leave the planner one good way to each row, with or without statistics.

- ``business_id`` loses its single-column index on the tables whose unique key starts with it
  (the key's index serves every lookup by business). Before PostgreSQL has statistics for a
  table (a new database, or a table that grew since autovacuum last analyzed it) it guessed
  the two equally selective and read, through the single-column one, all of a business's
  leads to find one by phone or by id, and every write maintained both.
- ``whatsapp_messages`` is indexed by ``(conversation_id, id)`` instead of ``conversation_id``:
  a conversation's recent history (the reply's context, the chat's analysis) is one short
  index scan, in order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose unique key leads with ``business_id``.
KEYED_BY_BUSINESS = (
    "agent_settings",
    "prebuilt_prompts",
    "call_logs",
    "call_sessions",
    "recordings",
    "leads",
    "push_subscriptions",
    "whatsapp_conversations",
    "whatsapp_messages",
)


def upgrade() -> None:
    for table in KEYED_BY_BUSINESS:
        op.drop_index(f"ix_{table}_business_id", table_name=table)
    op.create_index(
        "ix_whatsapp_messages_conversation_id_id", "whatsapp_messages", ["conversation_id", "id"]
    )
    op.drop_index("ix_whatsapp_messages_conversation_id", table_name="whatsapp_messages")


def downgrade() -> None:
    op.create_index(
        "ix_whatsapp_messages_conversation_id", "whatsapp_messages", ["conversation_id"]
    )
    op.drop_index("ix_whatsapp_messages_conversation_id_id", table_name="whatsapp_messages")
    for table in KEYED_BY_BUSINESS:
        op.create_index(f"ix_{table}_business_id", table, ["business_id"])
