"""A WhatsApp message keeps Twilio's error code from a report that it was not delivered.

A delivery report (``domain/whatsapp/delivery.py``) saying ``failed`` or ``undelivered`` wrote
the code only inside the message's ``error`` text; ``error_code`` keeps it on its own (Twilio's
codes are numbers, ``63016``), so the API's message listing shows it as a field.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("whatsapp_messages", sa.Column("error_code", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_column("error_code")
