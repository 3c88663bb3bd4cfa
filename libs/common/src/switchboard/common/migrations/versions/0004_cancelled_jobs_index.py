"""A small partial index of cancelled jobs by when they were cancelled.

Worker processes read the recent cancellations with each batch of successes, so that a job
delivered for the first time can start without a round trip of its own (``jobs/inflight.py``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CANCELLED = sa.text("status = 'cancelled'")


def upgrade() -> None:
    op.create_index(
        "ix_jobs_cancelled_at",
        "jobs",
        ["updated_at"],
        postgresql_where=CANCELLED,
        sqlite_where=CANCELLED,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_cancelled_at", table_name="jobs")
