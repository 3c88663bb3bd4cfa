"""A running job can be asked to stop; an outbound item counts the calls Twilio accepted.

``jobs.cancel_requested``: set when a running job is cancelled; the job stops at its next
checkpoint and only then does its row say ``cancelled``. ``outbound_items.calls_placed``: the
calls Twilio accepted for the item's lead (a run's ``placed``), not the attempts to dial.

Revision ID: 0012
Revises: 0011
Create Date: 2027-01-11
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("outbound_items") as batch:
        batch.add_column(
            sa.Column("calls_placed", sa.Integer(), nullable=False, server_default="0")
        )
    # Items whose current call Twilio accepted; earlier attempts' calls were not recorded.
    op.execute("UPDATE outbound_items SET calls_placed = 1 WHERE call_sid IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("outbound_items") as batch:
        batch.drop_column("calls_placed")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cancel_requested")
