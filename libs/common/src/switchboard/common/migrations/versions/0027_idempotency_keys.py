"""Idempotency keys: a retried POST answers what the first one did (docs/api.md).

``idempotency_keys``: one row per ``Idempotency-Key`` a business sent with a POST, with the
hash of the request it came with, the lease of the request that holds it while it runs, whether
that request's work committed (written in the work's own transaction) and, once answered, the
status and body to answer repeats with. Kept 24 hours. A tenant table, under row-level
security like the others.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import secure_new_table_sql
from switchboard.common.settings import get_settings

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("work_committed", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_idempotency_keys_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("key", "business_id", name=op.f("uq_idempotency_keys_key_business_id")),
    )
    op.create_index(
        "ix_idempotency_keys_business_id_created_at",
        "idempotency_keys",
        ["business_id", "created_at"],
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in secure_new_table_sql("idempotency_keys", get_settings().db_app_role):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_business_id_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
