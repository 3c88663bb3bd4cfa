"""A failed execution leaves its traceback on the job's row (``jobs.last_traceback``), and a
worker's heartbeat says how many threads its process runs (``worker_heartbeats.threads``,
``worker_threads``).

``last_error`` stays the one-line type and message the API and the logs show; the operator
console's job page shows the traceback, masked like every log line, and its workers page the
threads.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("last_traceback", sa.Text(), nullable=True))
    with op.batch_alter_table("worker_heartbeats") as batch:
        batch.add_column(sa.Column("threads", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("worker_threads", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_heartbeats") as batch:
        batch.drop_column("worker_threads")
        batch.drop_column("threads")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("last_traceback")
