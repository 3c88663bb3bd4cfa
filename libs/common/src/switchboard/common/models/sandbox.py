"""The sandbox inbox: what sandbox telephony "delivered" instead of Twilio (docs/sandbox.md)."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped


class SandboxMessage(TenantOwned, Timestamped, Base):
    """One message the business sent while telephony was the sandbox (a WhatsApp reply)."""

    __tablename__ = "sandbox_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="whatsapp")
    to_number: Mapped[str] = mapped_column(String(64))
    from_number: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
