"""Erased calls remembered; idempotency keys' request hashes keyed.

``erased_calls``: one row per call an erasure erased, holding a keyed hash of its sid (never
the sid, never a number), so a recording of the call that comes after the erasure (Twilio's
callback late or retried, a queued job) is refused: deleted at Twilio, never downloaded or
transcribed (``domain/erasures/erased_calls.py``). A tenant table under row-level security.

``idempotency_keys.request_hash`` was a plain SHA-256 of the request: of a body naming only
a number (``POST /api/v1/erasures``, a lead), hashing every number there is gave the number
back, even after its erasure. It is now an HMAC of that SHA-256, keyed with
``SESSION_SECRET`` (``api/idempotency.py``); the rows already held (a day's) are rehashed
here the same way, so a retry of a request sent before this revision still matches. Not
undone by the downgrade (the plain hashes are not kept): a retry of a request sent before
the downgrade is then told its key was used for another request.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06
"""

import hashlib
import hmac
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import secure_new_table_sql
from switchboard.common.settings import get_settings

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# As ``api/idempotency.py`` and ``common/keyed_hash.py`` say it, frozen here as of this revision.
_REQUEST_PURPOSE = b"switchboard idempotency request v1"


def _keyed(plain_hex: str) -> str:
    key = hmac.new(get_settings().session_secret.encode(), _REQUEST_PURPOSE, hashlib.sha256)
    return hmac.new(key.digest(), plain_hex.encode(), hashlib.sha256).hexdigest()


def upgrade() -> None:
    op.create_table(
        "erased_calls",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("call_sid_hash", sa.String(64), nullable=False),
        sa.Column("erasure_id", BIG_ID, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_erased_calls_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_calls")),
        sa.UniqueConstraint(
            "business_id", "call_sid_hash", name=op.f("uq_erased_calls_business_id_call_sid_hash")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in secure_new_table_sql("erased_calls", get_settings().db_app_role):
            op.execute(statement)
    keys = sa.table("idempotency_keys", sa.column("id", BIG_ID), sa.column("request_hash"))
    bind = op.get_bind()
    for row in bind.execute(sa.select(keys.c.id, keys.c.request_hash)).all():
        bind.execute(
            keys.update().where(keys.c.id == row.id).values(request_hash=_keyed(row.request_hash))
        )


def downgrade() -> None:
    op.drop_table("erased_calls")  # the plain request hashes are not kept: not restored
