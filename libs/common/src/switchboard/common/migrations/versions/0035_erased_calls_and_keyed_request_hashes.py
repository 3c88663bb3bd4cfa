"""Idempotency keys' request hashes keyed.

``idempotency_keys.request_hash`` was a plain SHA-256 of the request: of a body naming only
a number (``POST /api/v1/erasures``, a lead), hashing every number there is gave the number
back, even after its erasure. It is now an HMAC of that SHA-256, keyed with
``SESSION_SECRET`` (``api/idempotency.py``); the rows already held (a day's) are rehashed
here the same way, so a retry of a request sent before this revision still matches. Not
undone by the downgrade (the plain hashes are not kept): a retry of a request sent before
the downgrade is then told its key was used for another request.

Revision ID: 0035
Revises: 0033
Create Date: 2026-12-06
"""

import hashlib
import hmac
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.settings import get_settings

revision: str = "0035"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# As ``api/idempotency.py`` and ``common/keyed_hash.py`` say it, frozen here as of this revision.
_REQUEST_PURPOSE = b"switchboard idempotency request v1"


def _keyed(plain_hex: str) -> str:
    key = hmac.new(get_settings().session_secret.encode(), _REQUEST_PURPOSE, hashlib.sha256)
    return hmac.new(key.digest(), plain_hex.encode(), hashlib.sha256).hexdigest()


def upgrade() -> None:
    keys = sa.table("idempotency_keys", sa.column("id", BIG_ID), sa.column("request_hash"))
    bind = op.get_bind()
    for row in bind.execute(sa.select(keys.c.id, keys.c.request_hash)).all():
        bind.execute(
            keys.update().where(keys.c.id == row.id).values(request_hash=_keyed(row.request_hash))
        )


def downgrade() -> None:
    pass  # the plain hashes are not kept: nothing to restore
