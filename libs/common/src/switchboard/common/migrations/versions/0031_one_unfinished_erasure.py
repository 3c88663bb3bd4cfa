"""One unfinished erasure per number and business, held by the database.

``POST /api/v1/erasures`` answers a repeat with the unfinished erasure of the same number;
without a constraint, two identical requests at the same instant both found none and both
started one. A partial unique index on ``(phone_hash, business_id)`` among the erasures not
``done`` makes the second insert fail; the request path answers the first one then
(``domain/erasures/requests.py``). The hash leads: ``business_id`` leads one index per tenant
table and no more (migration 0009).

Erasures are few and rarely two unfinished for one number, but any duplicates already there
would stop the index: all but the oldest of each group are marked done before it is built
(their jobs find them done and do nothing; the oldest erases everything they would).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the model says it (``models.erasures``), frozen here as of this revision.
_UNFINISHED = sa.text("status <> 'done'")


def upgrade() -> None:
    op.execute(
        """
        UPDATE erasures SET status = 'done', phone = NULL, finished_at = CURRENT_TIMESTAMP
        WHERE status <> 'done' AND EXISTS (
            SELECT 1 FROM erasures AS older
            WHERE older.business_id = erasures.business_id
              AND older.phone_hash = erasures.phone_hash
              AND older.status <> 'done'
              AND older.id < erasures.id
        )
        """
    )
    op.create_index(
        "uq_erasures_unfinished_phone_hash",
        "erasures",
        ["phone_hash", "business_id"],
        unique=True,
        postgresql_where=_UNFINISHED,
        sqlite_where=_UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("uq_erasures_unfinished_phone_hash", table_name="erasures")
