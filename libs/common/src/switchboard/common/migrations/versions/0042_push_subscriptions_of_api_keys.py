"""A push subscription belongs to the API key that registered it.

``api_key_id``: the key (a member of the business) whose browser it is. Only a subscription of
a live key is pushed; revoking the key deletes its subscriptions (deleting the key, too). A
subscription from before has no key and is pushed no more until its browser registers again
(Web Push clients register their subscription each time they start): nobody can say whose
browser it is, and a browser whose user has left the business must not hear of its leads.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FK = "fk_push_subscriptions_api_key_id_api_keys"
_INDEX = "ix_push_subscriptions_api_key_id"


def upgrade() -> None:
    with op.batch_alter_table("push_subscriptions") as batch:
        batch.add_column(sa.Column("api_key_id", BIG_ID, nullable=True))
        batch.create_foreign_key(_FK, "api_keys", ["api_key_id"], ["id"], ondelete="CASCADE")
        batch.create_index(_INDEX, ["api_key_id"])


def downgrade() -> None:
    with op.batch_alter_table("push_subscriptions") as batch:
        batch.drop_index(_INDEX)
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_column("api_key_id")
