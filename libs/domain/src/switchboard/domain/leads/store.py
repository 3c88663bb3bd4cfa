"""Lead data access: always for one business, never two leads for one number.

No lead takes or leaves a number an erasure not done yet is erasing (``domain/erasures``):
creating a lead with it, changing a lead's number to it or from it, or importing a row with
it is refused, with :func:`being_erased` as the reason. The leads step of the erasure deletes
the person's leads by their number: a lead given it meanwhile would be deleted with no request
for its own person (or kept, made after the step), one taken from it would keep the person's
name, email and notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.errors import ConflictError
from switchboard.common.models import Lead, OutboundItem
from switchboard.domain.erasures.requests import (
    erasure_of_number,
    erasures_of_numbers,
    lock_imports,
)
from switchboard.domain.own_number import refuse_own_number


def upsert_lead(session: Session, business_id: int, phone: str, **fields: Any) -> tuple[Lead, bool]:
    """Find or create the lead for ``phone``; fill in only fields it does not have yet.

    Returns the lead and whether this call created it. Safe under concurrent callers.
    """
    now = utcnow()
    created = insert_ignoring_conflicts(
        session,
        Lead.__table__,  # type: ignore[arg-type]
        {
            "business_id": business_id,
            "phone": phone,
            "status": "new",
            "source": fields.pop("source", "manual"),
            "created_at": now,
            "updated_at": now,
            **fields,
        },
    )
    lead = session.execute(
        select(Lead).where(Lead.business_id == business_id, Lead.phone == phone)
    ).scalar_one()
    if not created:
        for name, value in fields.items():
            if value is not None and getattr(lead, name) in (None, ""):
                setattr(lead, name, value)
    return lead, created


@dataclass(frozen=True)
class LeadFilter:
    """What a lead list is narrowed to; ``search`` matches name, phone or email."""

    status: str | None = None
    source: str | None = None
    search: str | None = None


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _find(session: Session, business_id: int, lead_id: int, *, lock: bool = False) -> Lead:
    """The business's lead (another's is not found); ``lock``: its row locked ``FOR UPDATE``
    until the transaction ends."""
    return owned_row(session, Lead, business_id, lead_id, what="lead", lock=lock)


def _duplicate(phone: str) -> ConflictError:
    return ConflictError(f"a lead with phone {phone} already exists")


def being_erased(erasure_id: int) -> str:
    """Why a lead may not take or leave a number (the number is not named: the text reaches
    logs)."""
    return (
        f"the number is being erased on the person's request (erasure {erasure_id}); no "
        "lead can take it or leave it until that erasure is done"
    )


def _refuse_numbers_being_erased(session: Session, business_id: int, *phones: str) -> None:
    """A :class:`ConflictError` naming ``phone`` if an erasure not done yet is erasing one of
    ``phones``, each looked for under its lock (``erasure_of_number``), held to the end of the
    transaction; in order, as a dial takes them."""
    for phone in sorted(set(phones)):
        erasure_id = erasure_of_number(session, business_id, phone)
        if erasure_id is not None:
            raise ConflictError(f"phone: {being_erased(erasure_id)}")


def create_lead(business_id: int, phone: str, **fields: Any) -> Lead:
    """Create a lead; the business's own number is an ``OwnNumberError`` (422), a second lead
    for the same phone number, or a number being erased, a :class:`ConflictError`."""
    try:
        with tenant_session(business_id) as session:
            refuse_own_number(session, business_id, "phone", phone)
            _refuse_numbers_being_erased(session, business_id, phone)
            lead = Lead(business_id=business_id, phone=phone, **fields)
            session.add(lead)
            session.flush()
            return lead
    except IntegrityError as exc:
        raise _duplicate(phone) from exc


def list_leads(
    business_id: int, filters: LeadFilter, *, limit: int = 50, after: int | None = None
) -> Page[Lead]:
    """This business's leads, newest first."""
    query = select(Lead).where(Lead.business_id == business_id)
    if filters.status:
        query = query.where(Lead.status == filters.status)
    if filters.source:
        query = query.where(Lead.source == filters.source)
    if filters.search:
        pattern = like_pattern(filters.search)
        query = query.where(
            or_(
                Lead.name.ilike(pattern, escape="\\"),
                Lead.phone.ilike(pattern, escape="\\"),
                Lead.email.ilike(pattern, escape="\\"),
            )
        )
    with tenant_session(business_id) as session:
        return fetch_page(session, query, Lead.id, limit=limit, after=after)


def get_lead(business_id: int, lead_id: int) -> Lead:
    """One lead of this business."""
    with tenant_session(business_id) as session:
        return _find(session, business_id, lead_id)


def update_lead(business_id: int, lead_id: int, changes: Mapping[str, Any]) -> Lead:
    """Apply ``changes`` (field -> value, None clears) to a lead; a taken phone, or a change
    to or from a number being erased, is a conflict (its other fields still change); a change
    to the business's own number is an ``OwnNumberError`` (422), and nothing changes.

    The lead's row is locked (``FOR UPDATE``) before its number is read: a concurrent change
    of its number commits first, and this one then checks the number the lead has now, not
    the one it had before (its erasure could have been accepted in between). A dial holds
    the row too (``FOR SHARE``), then its numbers' locks: the same order, no cycle."""
    try:
        with tenant_session(business_id) as session:
            lead = _find(session, business_id, lead_id, lock=True)
            phone = changes.get("phone")
            if phone is not None and phone != lead.phone:
                refuse_own_number(session, business_id, "phone", phone)
                _refuse_numbers_being_erased(session, business_id, lead.phone, phone)
            for name, value in changes.items():
                setattr(lead, name, value)
            session.flush()
            return lead
    except IntegrityError as exc:
        raise _duplicate(str(changes.get("phone"))) from exc


def delete_lead(business_id: int, lead_id: int) -> None:
    """Delete a lead (its calls and conversations stay, unlinked) and its outbound items.

    The items go in a statement of their own: their key keeps them when an erasure deletes
    the lead (``domain/erasures``), which blanks their number instead. The lead's row is
    locked before its items, as a dial locks them (``erasures.items.item_numbers``).
    """
    with tenant_session(business_id) as session:
        _find(session, business_id, lead_id, lock=True)
        session.execute(
            delete(OutboundItem).where(
                OutboundItem.business_id == business_id, OutboundItem.lead_id == lead_id
            )
        )
        session.execute(delete(Lead).where(Lead.business_id == business_id, Lead.id == lead_id))


@dataclass(frozen=True)
class ImportResult:
    """How many imported rows created a lead and how many updated an existing one; or, with
    nothing imported, the numbers being erased the rows had (number -> erasure id)."""

    created: int
    updated: int
    being_erased: Mapping[str, int] = field(default_factory=dict)


class _Refused(Exception):
    """Rolls an import back (it holds numbers: never raised past this module)."""

    def __init__(self, being_erased: Mapping[str, int]) -> None:
        super().__init__("an imported number is being erased")
        self.being_erased = being_erased


def import_leads(business_id: int, rows: Iterable[Mapping[str, Any]]) -> ImportResult:
    """Create or update one lead per row (keyed on ``phone``) in one transaction.

    Values given in a row overwrite the lead's; empty values leave it as it is. All rows or
    none: a row with a number being erased imports nothing (``being_erased`` says which),
    looked for after the writes (``erasures_of_numbers``), under the business's import lock
    held from the start (``lock_imports``): a request waits for the import, or the import
    finds its erasure.
    """
    try:
        return _import(business_id, rows)
    except _Refused as refused:
        return ImportResult(0, 0, refused.being_erased)


def _import(business_id: int, rows: Iterable[Mapping[str, Any]]) -> ImportResult:
    created = updated = 0
    phones: list[str] = []
    with tenant_session(business_id) as session:
        lock_imports(session, business_id, shared=False)
        for row in rows:
            phones.append(row["phone"])
            fields = {k: v for k, v in row.items() if k != "phone" and v not in (None, "")}
            lead, was_created = upsert_lead(
                session, business_id, row["phone"], source="import", **fields
            )
            if was_created:
                created += 1
                continue
            for name, value in fields.items():
                setattr(lead, name, value)
            updated += 1
        session.flush()
        refused = erasures_of_numbers(session, business_id, phones)
        if refused:
            raise _Refused(refused)
    return ImportResult(created, updated)
