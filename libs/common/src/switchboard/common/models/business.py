"""Businesses (tenants), their API keys and dashboard sessions, agent settings and prompts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped


class Business(Timestamped, Base):
    __tablename__ = "businesses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    phone_number: Mapped[str] = mapped_column(String(32), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    recording_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    max_call_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    outbound_concurrency_cap: Mapped[int] = mapped_column(Integer, default=5)
    whatsapp_concurrency: Mapped[int] = mapped_column(Integer, default=4)
    #: The business's own limits on its jobs executing at once, by queue (``{"analysis": 2}``);
    #: a queue not named takes the deployment's (``JOB_BUSINESS_CONCURRENCY``…).
    job_concurrency: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiKey(TenantOwned, Timestamped, Base):
    """An API key; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), default="default")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DashboardSession(TenantOwned, Timestamped, Base):
    """A logged-in dashboard session; only the SHA-256 of its cookie's token is stored.

    Logging out deletes the row; revoking the API key it was opened with ends it too.
    """

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    api_key_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_keys.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentSettings(TenantOwned, Timestamped, Base):
    """What the business's agent says and how; one row per business."""

    __tablename__ = "agent_settings"
    __table_args__ = (UniqueConstraint("business_id"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_name: Mapped[str] = mapped_column(String(100), default="Assistant")
    greeting: Mapped[str] = mapped_column(Text, default="Hello! How can I help you today?")
    instructions: Mapped[str] = mapped_column(Text, default="")
    voice: Mapped[str] = mapped_column(String(50), default="alloy")
    language: Mapped[str] = mapped_column(String(16), default="en")
    silence_timeout_s: Mapped[int] = mapped_column(Integer, default=8)
    #: ``openai``, ``gemini`` or ``offline`` for this business's calls; NULL: the deployment's
    #: ``AI_PROVIDER``.
    ai_provider: Mapped[str | None] = mapped_column(String(16))


class PrebuiltPrompt(TenantOwned, Timestamped, Base):
    """The system prompt built from the agent settings, per channel; the gateway reads it."""

    __tablename__ = "prebuilt_prompts"
    __table_args__ = (UniqueConstraint("business_id", "channel"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))  # "voice" | "whatsapp"
    content: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
