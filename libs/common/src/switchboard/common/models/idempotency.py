"""Idempotency keys: what a business's POST with an ``Idempotency-Key`` answered (docs/api.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped


class IdempotencyKey(TenantOwned, Timestamped, Base):
    """One key a business sent, the request it came with and, once answered, the answer.

    In progress while ``status_code`` is null: held by the request whose ``token`` it carries
    until ``lease_until``, after which a repeat takes it over (the holder died), unless
    ``work_committed`` says the holder's work committed (with this row, in its transaction).
    Kept 24 hours from ``created_at``.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # A key is looked up with its business; the key leads, so that business_id leads
        # one index only: the one that finds the business's expired keys, deleted as it sends
        # new ones (hence no index of business_id alone either).
        UniqueConstraint("key", "business_id"),
        Index("ix_idempotency_keys_business_id_created_at", "business_id", "created_at"),
    )
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    #: HMAC-SHA256 (hex), keyed per deployment, of the SHA-256 of the request's method, path,
    #: query and body (``api/idempotency.py``): no fingerprint of a body naming a number.
    request_hash: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(32))
    lease_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    work_committed: Mapped[bool] = mapped_column(Boolean, default=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
