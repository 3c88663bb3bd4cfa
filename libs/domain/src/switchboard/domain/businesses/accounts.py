"""Creating businesses and issuing, hashing and checking their API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.models import AgentSettings, ApiKey, Business

API_KEY_PREFIX = "sbk_"


class BusinessExistsError(ValueError):
    """Another business already answers on that phone number."""


@dataclass(frozen=True)
class IssuedKey:
    """An API key as shown to its owner once; only its hash is stored."""

    key: str
    prefix: str


def hash_api_key(key: str) -> str:
    """The stored form of an API key (SHA-256 hex; keys are long random tokens, no salt needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(business_id: int, name: str = "default") -> IssuedKey:
    """Create a new API key for ``business_id`` and return it (the only time it is visible)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    prefix = key[: len(API_KEY_PREFIX) + 6]
    with tenant_session(business_id) as session:
        session.add(
            ApiKey(business_id=business_id, name=name, prefix=prefix, key_hash=hash_api_key(key))
        )
    return IssuedKey(key=key, prefix=prefix)


def create_business(
    name: str, phone_number: str, timezone: str = "UTC"
) -> tuple[Business, IssuedKey]:
    """Create a business with default agent settings and its first API key."""
    try:
        with system_session() as session:
            business = Business(name=name, phone_number=phone_number, timezone=timezone)
            session.add(business)
            session.flush()
            session.add(AgentSettings(business_id=business.id))
    except IntegrityError as exc:
        raise BusinessExistsError(
            f"a business with phone number {phone_number} already exists"
        ) from exc
    return business, issue_api_key(business.id)


def business_for_api_key(key: str) -> int | None:
    """The id of the business a live API key belongs to, or None."""
    found = live_api_key(key)
    return found[1] if found else None


def api_key_is_live(key_id: int, business_id: int) -> bool:
    """True while the key (by row id) exists, belongs to the business and is not revoked."""
    with system_session() as session:
        return (
            session.execute(
                select(ApiKey.id).where(
                    ApiKey.id == key_id,
                    ApiKey.business_id == business_id,
                    ApiKey.revoked_at.is_(None),
                )
            ).first()
            is not None
        )


def live_api_key(key: str) -> tuple[int, int] | None:
    """``(key id, business id)`` for a live API key, or None; records when it was used."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    with system_session() as session:
        row = session.execute(
            select(ApiKey.id, ApiKey.business_id).where(
                ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            return None
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=utcnow()))
        return int(row.id), int(row.business_id)


def business_for_number(phone_number: str) -> Business | None:
    """The business that answers ``phone_number`` (system lookup for routing calls)."""
    with system_session() as session:
        return session.execute(
            select(Business).where(Business.phone_number == phone_number)
        ).scalar_one_or_none()
