"""Reading and changing a business's settings and its agent's, for the business and for admins.

Any change that can alter what the agent says rebuilds the prompt and re-warms the business:
``prebuild_prompt_job`` and ``warmup_business_job`` (kwargs ``business_id`` only) are
enqueued in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.errors import ConflictError, NotFoundError
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import PREBUILD_PROMPT, WARMUP_BUSINESS
from switchboard.common.models import AgentSettings, Business, WhatsAppConversation
from switchboard.domain.leads.store import like_pattern

REFRESH_JOBS = (PREBUILD_PROMPT, WARMUP_BUSINESS)


@dataclass(frozen=True)
class BusinessSettings:
    """A business, its agent settings, and the refresh jobs a change enqueued (if any)."""

    business: Business
    agent: AgentSettings
    job_ids: tuple[str, ...] = ()


def load_settings(session: Session, business_id: int) -> BusinessSettings:
    """The business and its agent settings; :class:`NotFoundError` if either is missing."""
    business = session.execute(
        select(Business).where(Business.id == business_id)
    ).scalar_one_or_none()
    agent = session.execute(
        select(AgentSettings).where(AgentSettings.business_id == business_id)
    ).scalar_one_or_none()
    if business is None or agent is None:
        raise NotFoundError(f"business {business_id} not found")
    return BusinessSettings(business, agent)


def _apply(
    session: Session,
    business_id: int,
    business_changes: Mapping[str, Any],
    agent_changes: Mapping[str, Any],
) -> BusinessSettings:
    found = load_settings(session, business_id)
    for name, value in business_changes.items():
        if name == "job_concurrency":
            value = _merged_limits(found.business.job_concurrency, value)
        setattr(found.business, name, value)
    for name, value in agent_changes.items():
        setattr(found.agent, name, value)
    session.flush()
    if "phone_number" in business_changes:
        _conversations_follow(session, business_id, found.business.phone_number)
    if not business_changes and not agent_changes:
        return found
    jobs = tuple(enqueue(spec, business_id=business_id).job_id for spec in REFRESH_JOBS)
    return BusinessSettings(found.business, found.agent, jobs)


def _conversations_follow(session: Session, business_id: int, number: str) -> None:
    """The business's WhatsApp conversations take its new number, in the move's transaction.

    Messages and replies go out from their conversation's ``business_number``; the old number
    may be another business's from the next moment on, and a message sent from it would be
    that business's (its sender, its sandbox inbox, the contact's answer routed to it).
    """
    session.execute(
        update(WhatsAppConversation)
        .where(
            WhatsAppConversation.business_id == business_id,
            WhatsAppConversation.business_number != number,
        )
        .values(business_number=number)
        .execution_options(synchronize_session=False)
    )


def _merged_limits(
    current: Mapping[str, int] | None, changes: Mapping[str, int | None] | None
) -> dict[str, int] | None:
    """A business's job limits by queue after ``changes`` (a queue given None loses its own)."""
    merged = {**(current or {}), **(changes or {})}
    kept = {queue: limit for queue, limit in merged.items() if limit is not None}
    return kept or None


def _phone_taken(changes: Mapping[str, Any]) -> ConflictError:
    return ConflictError(
        f"a business with phone number {changes.get('phone_number')} already exists"
    )


def own_settings(business_id: int) -> BusinessSettings:
    """The caller's business and agent settings."""
    with tenant_session(business_id) as session:
        return load_settings(session, business_id)


def update_own_settings(
    business_id: int, business_changes: Mapping[str, Any], agent_changes: Mapping[str, Any]
) -> BusinessSettings:
    """Apply a business's own changes; enqueue the prompt rebuild and warm-up if any."""
    with tenant_session(business_id) as session:
        return _apply(session, business_id, business_changes, agent_changes)


def list_businesses(
    *, search: str | None = None, limit: int = 50, after: int | None = None
) -> Page[Business]:
    """Every business, newest first (admin); ``search`` matches the name or phone number."""
    query = select(Business)
    if search:
        pattern = like_pattern(search)
        query = query.where(
            or_(
                Business.name.ilike(pattern, escape="\\"),
                Business.phone_number.like(pattern, escape="\\"),
            )
        )
    with system_session() as session:
        return fetch_page(session, query, Business.id, limit=limit, after=after)


def business_settings(business_id: int) -> BusinessSettings:
    """Any business's settings (admin)."""
    with system_session() as session:
        return load_settings(session, business_id)


def update_business(
    business_id: int, business_changes: Mapping[str, Any], agent_changes: Mapping[str, Any]
) -> BusinessSettings:
    """Change any business (admin); another business's phone number is a conflict."""
    try:
        with tenant_session(business_id) as session:
            return _apply(session, business_id, business_changes, agent_changes)
    except IntegrityError as exc:
        raise _phone_taken(business_changes) from exc
