"""Which of the resources Twilio lists is the one an attempt made without hearing back.

A send or dial whose answer was lost (its worker died, a 5xx) is looked up at Twilio before
anything is sent again: Twilio lists the resources that match it, newest first. One that a row
of ours already records belongs to that row (an earlier message with the same text, the lead's
earlier call); the newest that none records is the attempt's own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session


def first_unrecorded(
    session: Session,
    sid: InstrumentedAttribute[Any],
    business_id: int,
    candidates: list[str],
    *,
    own_id: int | None = None,
) -> str | None:
    """The first of ``candidates`` (Twilio's sids, newest first) that no row of the business
    records in ``sid`` (a model's sid column), or None. The row ``own_id`` (the one looking)
    does not count: a report may have recorded its sid before its attempt heard back."""
    if not candidates:
        return None
    model = sid.class_
    query = select(sid).where(model.business_id == business_id, sid.in_(candidates))
    if own_id is not None:
        query = query.where(model.id != own_id)
    recorded = set(session.scalars(query))
    return next((each for each in candidates if each not in recorded), None)
