"""The open call logs' index: the stale-call sweep reads them, not the whole table.

``end_stale_calls_job`` (every minute, ``domain/calls/stale.py``) looks for the calls no end
has reached. They are a handful among all the calls ever logged, so they get a partial index
of their own, holding only the rows whose status is not final. On ``updated_at``, not
``business_id``, which leads one index per tenant table and no more (migration 0009).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the model says it (``models.calls``), frozen here as of this revision.
_OPEN = sa.text("status NOT IN ('busy', 'canceled', 'completed', 'failed', 'no-answer')")


def upgrade() -> None:
    op.create_index(
        "ix_call_logs_open",
        "call_logs",
        ["updated_at"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_call_logs_open", table_name="call_logs")
