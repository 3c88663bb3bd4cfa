"""WhatsApp conversations carry their business's current number.

A conversation's ``business_number`` is the number its messages and replies are sent from. It
was written when the conversation began and never again, so after an admin moved a business
to another number its conversations went on sending from the old one, which may be another
business's by then: the messages went out as that business (its sender, its sandbox inbox,
the contact's answer routed to it). A move now rewrites them in its own transaction
(``domain/businesses/settings.py``); this repairs the conversations of moves made before.

Nothing to undo: the old numbers are not worth restoring.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENT = (
    "(SELECT b.phone_number FROM businesses b WHERE b.id = whatsapp_conversations.business_id)"
)


def upgrade() -> None:
    op.execute(
        f"UPDATE whatsapp_conversations SET business_number = {_CURRENT} "
        f"WHERE business_number <> {_CURRENT}"
    )


def downgrade() -> None:
    pass
