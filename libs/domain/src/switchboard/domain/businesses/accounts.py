"""Creating businesses and issuing, listing, revoking, hashing and checking their API keys.

A business may hold several live keys: a new key does not end the others, so a client moves
to it before the old one is revoked (rotation without downtime). Keys are checked against the
database on every request, so a revoked key stops working in every process at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.models import AgentSettings, ApiKey, Business, PushSubscription

API_KEY_PREFIX = "sbk_"


class BusinessExistsError(ValueError):
    """Another business already answers on that phone number."""


@dataclass(frozen=True)
class IssuedKey:
    """An API key as shown to its owner once; only its hash is stored."""

    key: str
    prefix: str
    id: int
    name: str
    created_at: datetime


def hash_api_key(key: str) -> str:
    """The stored form of an API key (SHA-256 hex; keys are long random tokens, no salt needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(business_id: int, name: str = "default") -> IssuedKey:
    """Create a new API key for ``business_id`` and return it (the only time it is visible)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    prefix = key[: len(API_KEY_PREFIX) + 6]
    with tenant_session(business_id) as session:
        if session.get(Business, business_id) is None:
            raise NotFoundError(f"business {business_id} not found")
        row = ApiKey(business_id=business_id, name=name, prefix=prefix, key_hash=hash_api_key(key))
        session.add(row)
        session.flush()
    return IssuedKey(key=key, prefix=prefix, id=row.id, name=name, created_at=row.created_at)


def list_api_keys(business_id: int) -> list[ApiKey]:
    """The business's keys, live and revoked, oldest first (their hashes stay inside)."""
    with tenant_session(business_id) as session:
        if session.get(Business, business_id) is None:
            raise NotFoundError(f"business {business_id} not found")
        return list(
            session.scalars(
                select(ApiKey).where(ApiKey.business_id == business_id).order_by(ApiKey.id)
            )
        )


def revoke_api_key(business_id: int, key_id: int) -> ApiKey:
    """Revoke one of the business's keys (again: no change) and return it; it stops working
    at once, the dashboard sessions opened with it end, and the browsers it subscribed to
    push notifications are unsubscribed (its holder hears no more of the business)."""
    with tenant_session(business_id) as session:
        row = session.execute(
            select(ApiKey).where(ApiKey.business_id == business_id, ApiKey.id == key_id)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"API key {key_id} not found for business {business_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        session.execute(
            delete(PushSubscription).where(
                PushSubscription.business_id == business_id, PushSubscription.api_key_id == key_id
            )
        )
        session.flush()
        return row


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


def business_exists(business_id: int) -> bool:
    """Whether there is a business with this id (system lookup)."""
    with system_session() as session:
        found = session.execute(select(Business.id).where(Business.id == business_id)).first()
        return found is not None


def business_for_number(phone_number: str) -> Business | None:
    """The business that answers ``phone_number`` (system lookup for routing calls)."""
    with system_session() as session:
        return session.execute(
            select(Business).where(Business.phone_number == phone_number)
        ).scalar_one_or_none()
