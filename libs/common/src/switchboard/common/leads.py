"""Lead data access: always for one business, never two leads for one number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.models import Lead


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
