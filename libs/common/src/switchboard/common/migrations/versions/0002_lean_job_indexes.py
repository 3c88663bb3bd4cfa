"""Fewer, partial indexes on the job ledger (each status change touched every one).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status IN ('queued', 'running')")
LIVE_DEDUP = sa.text("status IN ('queued', 'running') AND dedup_key IS NOT NULL")
WINDOW = sa.text("dedup_window_key IS NOT NULL")
RUN = sa.text("run_id IS NOT NULL")


def _partial(name: str, columns: list[str], where: sa.TextClause, unique: bool = False) -> None:
    op.create_index(
        name, "jobs", columns, unique=unique, postgresql_where=where, sqlite_where=where
    )


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("uq_jobs_dedup_window_key", type_="unique")
    op.drop_index("ix_jobs_business_id", table_name="jobs")
    op.drop_index("ix_jobs_run_id", table_name="jobs")
    op.drop_index("ix_jobs_queue_status", table_name="jobs")
    op.drop_index("uq_jobs_live_dedup_key", table_name="jobs")
    _partial("uq_jobs_live_dedup_key", ["dedup_key"], LIVE_DEDUP, unique=True)
    _partial("uq_jobs_dedup_window_key", ["dedup_window_key"], WINDOW, unique=True)
    _partial("ix_jobs_live_queue", ["queue_name", "status", "enqueued_at"], LIVE)
    _partial("ix_jobs_run_id", ["run_id"], RUN)


def downgrade() -> None:
    for name in (
        "ix_jobs_run_id",
        "ix_jobs_live_queue",
        "uq_jobs_dedup_window_key",
        "uq_jobs_live_dedup_key",
    ):
        op.drop_index(name, table_name="jobs")
    _partial("uq_jobs_live_dedup_key", ["dedup_key"], LIVE, unique=True)
    op.create_index("ix_jobs_queue_status", "jobs", ["queue_name", "status", "enqueued_at"])
    op.create_index("ix_jobs_run_id", "jobs", ["run_id"])
    op.create_index("ix_jobs_business_id", "jobs", ["business_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.create_unique_constraint("uq_jobs_dedup_window_key", ["dedup_window_key"])
