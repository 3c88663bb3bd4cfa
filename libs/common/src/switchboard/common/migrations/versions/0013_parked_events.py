"""Call events the API's consumer could not handle, kept until they are replayed.

``parked_events``: one row per event (``event_id`` unique: parking the same event again
updates its error), with the body as it arrived, what could be read from it (type, the business
it names, call sid) and the last error. Infrastructure, like the outbox: no row-level security;
``event_business_id`` is what the event claims, not a tenant key (an unreadable body has none).

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "parked_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=True),
        sa.Column("event_business_id", sa.BigInteger(), nullable=True),
        sa.Column("call_sid", sa.String(64), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_parked_events_event_id")),
    )
    op.create_index(
        op.f("ix_parked_events_event_business_id"), "parked_events", ["event_business_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_parked_events_event_business_id", table_name="parked_events")
    op.drop_table("parked_events")
