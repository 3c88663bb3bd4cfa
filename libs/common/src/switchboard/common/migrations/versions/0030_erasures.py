"""Erasure requests, and outbound items that outlive their erased lead.

``erasures``: one row per request to erase a person (``POST /api/v1/erasures``, docs/api.md):
the number while the job runs, its keyed hash for good, the status and the counts of what
was erased. A tenant table, under row-level security like the others.

``outbound_items.lead_id`` becomes nullable and ``ON DELETE SET NULL``: an erasure blanks the
item's number and deletes the lead, and the run's history (the item's status, attempts and
call sid) stays. Deleting a lead through the API still deletes its items, in its own
statement (``domain/leads/store.py``), as the cascade did.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import secure_new_table_sql
from switchboard.common.settings import get_settings

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LEAD_FK = "fk_outbound_items_lead_id_leads"


def _lead_fk(ondelete: str, nullable: bool) -> None:
    with op.batch_alter_table("outbound_items") as batch_op:
        batch_op.drop_constraint(_LEAD_FK, type_="foreignkey")
        batch_op.alter_column("lead_id", existing_type=BIG_ID, nullable=nullable)
        batch_op.create_foreign_key(_LEAD_FK, "leads", ["lead_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_erasures_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_index("ix_erasures_business_id_phone_hash", "erasures", ["business_id", "phone_hash"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in secure_new_table_sql("erasures", get_settings().db_app_role):
            op.execute(statement)
    _lead_fk("SET NULL", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM outbound_items WHERE lead_id IS NULL")
    _lead_fk("CASCADE", nullable=False)
    op.drop_index("ix_erasures_business_id_phone_hash", table_name="erasures")
    op.drop_table("erasures")
