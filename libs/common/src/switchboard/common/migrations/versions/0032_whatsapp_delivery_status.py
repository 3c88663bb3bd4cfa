"""WhatsApp messages keep what Twilio reports of their delivery: sent, delivered, read.

Twilio reports on every message sent to the ``StatusCallback`` each send names; only a failed
delivery was recorded (the message ``failed``), since ``status`` is also the send attempt's
claim (``sent`` and ``failed`` end it, migration 0014's function checks them). The delivery gets
columns of its own: ``delivery_status`` (None until a report arrives) and
``delivery_status_at``. A report finds its message by ``(business_id, message_sid)``, the
unique key of migration 0001, so no index is added.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("delivery_status_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_column("delivery_status_at")
        batch.drop_column("delivery_status")
