"""The sandbox inbox: messages sandbox telephony delivered instead of Twilio.

``sandbox_messages``: one row per WhatsApp message a business sent while ``TELEPHONY`` was
the sandbox (docs/sandbox.md), with the sandbox's ``SM…`` sid, both numbers and the body; the
dashboard's sandbox page and ``GET /api/v1/sandbox/messages`` read it. A tenant table, under
row-level security like the others.

Revision ID: 0018
Revises: 0017
Create Date: 2027-01-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import secure_new_table_sql
from switchboard.common.settings import get_settings

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sandbox_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_sandbox_messages_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_messages")),
        sa.UniqueConstraint("sid", name=op.f("uq_sandbox_messages_sid")),
    )
    op.create_index(op.f("ix_sandbox_messages_business_id"), "sandbox_messages", ["business_id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in secure_new_table_sql("sandbox_messages", get_settings().db_app_role):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_sandbox_messages_business_id", table_name="sandbox_messages")
    op.drop_table("sandbox_messages")
