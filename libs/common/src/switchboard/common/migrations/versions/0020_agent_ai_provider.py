"""A business's agent may name its AI provider for calls (``agent_settings.ai_provider``:
``openai``, ``gemini`` or ``offline``); NULL, every existing row, keeps the deployment's
``AI_PROVIDER``.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_settings") as batch:
        batch.add_column(sa.Column("ai_provider", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_settings") as batch:
        batch.drop_column("ai_provider")
