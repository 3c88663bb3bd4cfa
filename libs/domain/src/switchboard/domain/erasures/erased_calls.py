"""The calls erasures erased, as keyed hashes of their sids: what comes late about one of them
(a recording's callback, a queued recording job) is refused, not stored.

A new call or chat from the same number after the erasure is a new contact and is not
refused: only the erased calls' own artefacts are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.keyed_hash import keyed_hash
from switchboard.common.models import ErasedCall

#: Keeps the call sids' hashes apart from any other use of the secret.
_HASH_PURPOSE = b"switchboard erased call v1"


def call_sid_hash(business_id: int, call_sid: str) -> str:
    """The keyed hash kept of an erased call's sid (per business)."""
    return keyed_hash(_HASH_PURPOSE, f"{business_id}:{call_sid}".encode())


def remember_erased_calls(
    session: Session, business_id: int, erasure_id: int, call_sids: Iterable[str]
) -> None:
    """Keep the hashes of these calls' sids, in the caller's transaction (a repeat adds none)."""
    table: Any = ErasedCall.__table__
    now = utcnow()
    for call_sid in call_sids:
        insert_ignoring_conflicts(
            session,
            table,
            {
                "business_id": business_id,
                "call_sid_hash": call_sid_hash(business_id, call_sid),
                "erasure_id": erasure_id,
                "created_at": now,
                "updated_at": now,
            },
        )


def is_erased_call(session: Session, business_id: int, call_sid: str) -> bool:
    """Whether an erasure of this business erased the call."""
    found = session.execute(
        select(ErasedCall.id).where(
            ErasedCall.business_id == business_id,
            ErasedCall.call_sid_hash == call_sid_hash(business_id, call_sid),
        )
    ).first()
    return found is not None
