"""The calls erasures erased, as keyed hashes of their sids: what comes late about one of them
(a recording's callback, a queued recording job) is refused, not stored.

A new call or chat from the same number after the erasure is a new contact and is not
refused: only the erased calls' own artefacts are.

What writes about a call the erasure may erase (a recording job's attach, a call event's or
call job's write of the call log) and the erasure's step that remembers and deletes the
calls serialize on one lock per call (:func:`lock_call`, a transaction-level advisory lock):
the writer takes it before it looks for the erasure (:func:`erased_call_locked`), the
erasure before it remembers the call. Either the writer commits first and the erasure then
removes what it wrote, or the erasure commits first and the writer finds the call erased.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
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


def lock_call(session: Session, business_id: int, call_sid: str) -> None:
    """Hold this call's lock until the caller's transaction ends (PostgreSQL; SQLite has one
    writer at a time already). Keyed by the keyed hash, so no sid reaches the lock table."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"erased call:{call_sid_hash(business_id, call_sid)}"},
    )


def erased_call_locked(session: Session, business_id: int, call_sid: str) -> bool:
    """Whether the call is erased, looked for under its lock (:func:`lock_call`), which the
    caller's transaction then holds: what it writes about the call commits before an
    erasure can remember it, so that erasure finds it and removes it."""
    lock_call(session, business_id, call_sid)
    return is_erased_call(session, business_id, call_sid)


def remember_erased_calls(
    session: Session, business_id: int, erasure_id: int, call_sids: Iterable[str]
) -> None:
    """Keep the hashes of these calls' sids, in the caller's transaction (a repeat adds none),
    each under its call's lock (:func:`lock_call`): a writer already holding it commits first,
    one that comes after finds the call erased. Locked in sorted order, so two erasures
    sharing calls never deadlock."""
    table: Any = ErasedCall.__table__
    now = utcnow()
    for call_sid in sorted(set(call_sids)):
        lock_call(session, business_id, call_sid)
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
