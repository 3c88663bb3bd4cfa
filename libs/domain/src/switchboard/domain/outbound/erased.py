"""The items of a person under erasure: never dialed, never looked up, closed.

An item is the erasure's (:func:`erased_item`) once it is the person's (``erasures.items``:
it dials the number, or its lead has it) while the number is under erasure (from the commit of
the request to the erasure's end, ``erasures.requests.under_erasure``), or once blanked by it
(the erasure's outbound step, ``erasures.job``). Such an item is closed as that step closes
the person's items still to be dialed (``erasures.job.erased_item_closed``), by:

- the dial, which looks for it under the locks of the item's numbers (its own and its lead's,
  :func:`erased_item_locked`), in the transaction that would place the call: a claim
  committed before the request was accepted is never dialed after it, whenever the driver
  ticks between the erasure's steps;
- the lookups of a dial of unknown outcome (``unheard.py``), which ask Twilio nothing (the
  number may be blank by now): the item frees its line and its run can end.

Only a dial that commits before the request is accepted reaches the person; the erasure then
erases it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from switchboard.common.models import OutboundItem
from switchboard.domain.erasures.items import item_numbers, persons_item
from switchboard.domain.erasures.job import BLANKED, erased_item_closed
from switchboard.domain.erasures.requests import lock_number, under_erasure
from switchboard.domain.outbound.progress import unheard_dial


def erased_item(business_id: int) -> ColumnElement[bool]:
    """Whether an item of the business is a person's under erasure, or erased."""
    return or_(
        OutboundItem.phone == BLANKED,
        under_erasure(business_id, lambda phone: persons_item(business_id, phone)),
    )


def erased_item_locked(session: Session, business_id: int, item_id: int) -> bool:
    """Whether the item is the erasure's, looked for under the locks of its numbers
    (``erasures.items.item_numbers``; ``erasures.requests.lock_number``, shared), which the
    caller's transaction then holds until its call is placed: a request for either number
    commits before this, or waits for it."""
    for phone in item_numbers(session, business_id, item_id):
        lock_number(session, business_id, phone, shared=True)
    found = session.execute(
        select(OutboundItem.id).where(
            OutboundItem.business_id == business_id,
            OutboundItem.id == item_id,
            erased_item(business_id),
        )
    ).first()
    return found is not None


def close_erased_item(session: Session, business_id: int, item_id: int) -> bool:
    """Close the item, dialing with no call, as the erasure closes the person's items;
    whether it did (written only while it is so: another pass may have settled it)."""
    values = erased_item_closed()
    closed = session.execute(
        update(OutboundItem)
        .where(OutboundItem.business_id == business_id, OutboundItem.id == item_id, *unheard_dial())
        .values(**values, updated_at=values["completed_at"])
        .returning(OutboundItem.id)
    ).first()
    return closed is not None
