"""The scheduler's last emitted tick per schedule and time zone.

``schedule_ticks``: one row per schedule and zone (``UTC``, or a business time zone for the
schedules read in each business's zone) with the last tick emitted and how many ticks and jobs
were emitted in all. The leader locks the row while it emits a tick and stores the tick in the
same transaction, so a new leader goes on from there. Infrastructure, like the outbox: no
row-level security (the system role reaches it through the default privileges of 0015).

Revision ID: 0017
Revises: 0016
Create Date: 2027-01-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticks_emitted", sa.BigInteger(), nullable=False),
        sa.Column("jobs_emitted", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "zone", name=op.f("pk_schedule_ticks")),
    )


def downgrade() -> None:
    op.drop_table("schedule_ticks")
