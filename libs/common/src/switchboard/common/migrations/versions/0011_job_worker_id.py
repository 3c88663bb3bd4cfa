"""A job's row names the worker process running it (``jobs.worker_id``).

A redelivered or republished job whose worker's heartbeat is still fresh is not started a
second time; one whose worker is dead is taken over (``worker/runtime/middleware.py``).

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("worker_id")
