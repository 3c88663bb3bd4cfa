"""A partial index of the outbound items in flight: the reconciler settles ended runs of any age.

Every 15 seconds the outbound reconciler looks for runs that ended (cancelled, failed, or
completed before a late call was adopted) with items still in flight, to have their calls
settled. It looked only at runs ended within a day (``ix_outbound_runs_status_finished_at``,
migration 0033), so a run whose settling failed for longer (Twilio down, no worker for a
weekend) kept its items in flight for good. It now reads the items in flight, whatever their
run's age, through this index: a handful at any time (the running runs' lines, and what is
left to settle), not every item ever dialed.

Its predicate is written into the query's text (``db/inline.py``), so a generic plan can use it.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the model says it (``models.outbound.ITEM_IN_FLIGHT_SQL``), frozen here as of this revision.
_IN_FLIGHT = sa.text("status IN ('dialing', 'in_progress')")


def upgrade() -> None:
    op.create_index(
        "ix_outbound_items_in_flight",
        "outbound_items",
        ["run_id"],
        postgresql_where=_IN_FLIGHT,
        sqlite_where=_IN_FLIGHT,
    )


def downgrade() -> None:
    op.drop_index("ix_outbound_items_in_flight", table_name="outbound_items")
