"""A recording's transcription keeps its progress a piece at a time.

A long call's WAV is transcribed in 25 MB pieces, one request each: ``transcript_pieces``
holds the texts of the pieces done so far (a JSON array of strings, in order), saved after
each, so a job retried after its time limit or a killed worker resumes at the next piece
instead of sending the first ones again. It is emptied when the joined ``transcript`` is
written.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("recordings", sa.Column("transcript_pieces", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("transcript_pieces")
