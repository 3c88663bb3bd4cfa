"""Indexes for the scheduler's periodic queries: each reads what is due, not the year's rows.

Every 15 seconds to once a day the scheduler asks which businesses have work, across every
business, and each job it emits reads its business's share. On a database in service for a
year those tables hold every row ever finished, and four of the queries read them all:

- the outbound reconciler's runs ended within a day with items in flight read every run ever
  ``cancelled`` or ``failed`` (``ix_outbound_runs_status``): now ``(status, finished_at)``;
- the reminders due read every reminder ever due, sent ones included (``due_at``'s index),
  or the whole table: now ``(status, due_at)``;
- the idle WhatsApp sessions read the whole table, closed sessions included: now a partial
  index of the open ones, on ``last_activity_at``;
- the recordings past their retention read the whole table (a week of recordings):
  now ``created_at``'s index.

None is partial on a value a query passes as a parameter: a prepared statement's generic plan
could not use it (``closed_at IS NULL`` has none). None leads with ``business_id``, which
leads one index per tenant table and no more (migration 0009).
``tests/integration/test_periodic_query_plans.py`` holds each query to the rows it is about.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the models say them (``models.notifications``, ``models.whatsapp``), frozen here as of
# this revision.
_PENDING = sa.text("status = 'pending'")
_OPEN_SESSION = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_outbound_runs_status_finished_at", "outbound_runs", ["status", "finished_at"]
    )
    op.create_index(
        "ix_reminders_pending",
        "reminders",
        ["due_at"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.create_index(
        "ix_whatsapp_sessions_open",
        "whatsapp_sessions",
        # conversation_id first: the worker finds a conversation's open session through it
        # on every message (led by last_activity_at, an unanalyzed table's plan read every
        # open session of every business there); the minute's sweep reads it whole, which is
        # the open sessions only.
        ["conversation_id", "last_activity_at"],
        postgresql_where=_OPEN_SESSION,
        sqlite_where=_OPEN_SESSION,
    )
    op.create_index("ix_recordings_created_at", "recordings", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_recordings_created_at", table_name="recordings")
    op.drop_index("ix_whatsapp_sessions_open", table_name="whatsapp_sessions")
    op.drop_index("ix_reminders_pending", table_name="reminders")
    op.drop_index("ix_outbound_runs_status_finished_at", table_name="outbound_runs")
