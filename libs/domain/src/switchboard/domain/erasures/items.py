"""Which outbound items are a person's: the one rule the erasure's outbound step closes and
blanks by, and a dial looks for under erasure by (``outbound/erased.py``).

An item is the person's when it dials their number, or when its lead has that number: a
lead's number may have changed since its item was made, and the item then dials the old one,
which no erasure of the old number would find through the lead. So an item belongs to the
erasures of two numbers at most, its own and its lead's (:func:`item_numbers`); a dial takes
both numbers' locks (``requests.lock_number``) before it looks.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from switchboard.common.models import Lead, OutboundItem


def persons_item(
    business_id: int, phone: str | ColumnElement[str] | QueryableAttribute[str | None]
) -> ColumnElement[bool]:
    """Whether an item of the business is the person's of ``phone`` (a number, or a column,
    correlated): it dials the number, or its lead has it."""
    leads = select(Lead.id).where(Lead.business_id == business_id, Lead.phone == phone)
    return or_(OutboundItem.phone == phone, OutboundItem.lead_id.in_(leads))


def item_numbers(session: Session, business_id: int, item_id: int) -> list[str]:
    """The numbers whose erasure takes the item (:func:`persons_item`), in the order their
    locks are taken: its own and its lead's, the blank of an erased item left out. The lead's
    row is read ``FOR SHARE`` and held until the caller's transaction ends, so its number
    cannot change under a dial that looked at it (a lead's row is locked before its items,
    ``leads.store.delete_lead``)."""
    item = session.execute(
        select(OutboundItem.phone, OutboundItem.lead_id).where(
            OutboundItem.business_id == business_id, OutboundItem.id == item_id
        )
    ).one()
    numbers = {item.phone}
    if item.lead_id is not None:
        lead_phone = session.execute(
            select(Lead.phone)
            .where(Lead.business_id == business_id, Lead.id == item.lead_id)
            .with_for_update(read=True)
        ).scalar_one_or_none()
        if lead_phone is not None:
            numbers.add(lead_phone)
    return sorted(number for number in numbers if number)
