"""A business's own number is never one of its contacts.

The number a business answers (``businesses.phone_number``) cannot be a lead's, a WhatsApp
conversation's contact, or a number an outbound run dials: its agent would call or message
itself, and a call it placed to itself would ring back into the same agent (a loop). Nor is it
a person's to erase: every call to the business and every conversation with it names that
number, so its erasure would erase them all. Each is refused as a 422 naming the field
(``type`` ``own_number``); a CSV import names the row's line. One rule, here, for the API, the
console and the CSV import (and so ``switchboard leads import``).

The number is compared as stored (E.164 on both sides). A business whose number changes later
keeps the leads it has; only new writes are checked.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.errors import InvalidReferenceError
from switchboard.common.models import Business

#: The error's ``type`` in a 422.
KIND = "own_number"
#: Why a lead, a conversation or a dial may not have the number (the number itself is not
#: named: the text reaches logs).
OWN_NUMBER = (
    "is this business's own number, the one its agent answers: the agent cannot call or "
    "message itself"
)
#: Why an erasure of it is refused.
NOT_A_PERSON = (
    "is this business's own number, not a person's: every call and conversation of the "
    "business names it, and erasing it would erase them all"
)


class OwnNumberError(InvalidReferenceError):
    """A contact number that is the business's own (HTTP 422 naming ``field``)."""

    def __init__(self, field: str, message: str = OWN_NUMBER) -> None:
        super().__init__(field, message, kind=KIND)


def business_number(session: Session, business_id: int) -> str:
    """The number the business answers."""
    number: str = session.execute(
        select(Business.phone_number).where(Business.id == business_id)
    ).scalar_one()
    return number


def refuse_own_number(
    session: Session, business_id: int, field: str, number: str, message: str = OWN_NUMBER
) -> str:
    """:class:`OwnNumberError` on ``field`` if ``number`` is the business's own; else the
    business's number."""
    own = business_number(session, business_id)
    if number == own:
        raise OwnNumberError(field, message)
    return own
