"""Rows erasures deleted, remembered by id.

``erased_rows``: one row per call log, webhook delivery, WhatsApp message, conversation or
session, or reminder an erasure deleted, holding its table and id (nothing else), so a job
queued for it before the erasure, which finds it gone, ends quietly: its work is no longer
owed (``domain/erasures/erased_rows.py``). A row gone with no such record still fails its
job. A tenant table under row-level security.

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import secure_new_table_sql
from switchboard.common.settings import get_settings

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "erased_rows",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("row_id", BIG_ID, nullable=False),
        sa.Column("erasure_id", BIG_ID, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_erased_rows_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_rows")),
        sa.UniqueConstraint(
            "business_id",
            "table_name",
            "row_id",
            name=op.f("uq_erased_rows_business_id_table_name_row_id"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in secure_new_table_sql("erased_rows", get_settings().db_app_role):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("erased_rows")
