"""Call logs, call sessions and the lead behind a call, written from the gateway's call events.

Every function is keyed by Twilio's call sid and is an upsert, so events may arrive in any
order and any number of times. A call sid that already belongs to another business is refused
(Twilio sids are global: an event for it under this business is wrong and can never succeed).
A call an erasure erased is not written again, however late its job (:func:`erased_call`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.errors import NotFoundError
from switchboard.common.jobs import FOREVER, enqueue_unique
from switchboard.common.jobs.catalog import ANALYZE_CONVERSATION, CREATE_LEAD_FROM_CALL
from switchboard.common.logging import get_logger
from switchboard.common.models import CallLog, CallSession, Recording
from switchboard.common.models.calls import FINAL_CALL_STATUSES as _FINAL
from switchboard.domain.erasures.erased_calls import erased_call_locked
from switchboard.domain.leads.store import upsert_lead

log = get_logger(__name__)

#: Twilio call statuses after which nothing more happens on the call (``models.calls``).
FINAL_CALL_STATUSES = frozenset(_FINAL)
#: The end reason of a call the stale-call sweep ended (``stale.py``): no end ever came. A
#: real end arriving later replaces it.
NO_END_EVENT = "no_end_event"


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 timestamp from a job argument."""
    return datetime.fromisoformat(value) if value else None


def _as_time(value: datetime | str | None) -> datetime | None:
    return value if isinstance(value, datetime) else parse_time(value)


def queue_call_analysis(business_id: int, call_log_id: int) -> None:
    """Queue the analysis of the call's transcript, in the caller's transaction.

    One key per call log, kept forever: the transcript is analysed once, whichever of its
    writers (``call.ended``, the status callback, the lead job, a recording) gets there
    first. Each queues it only once the transcript is on the call log, and the analysis
    finds or creates the lead itself, so no order of them leaves the call unanalysed.
    """
    enqueue_unique(
        ANALYZE_CONVERSATION,
        key=f"analyze-call:{business_id}:{call_log_id}",
        period=FOREVER,
        business_id=business_id,
        call_log_id=call_log_id,
    )


def queue_lead_from_call(business_id: int, call_log_id: int) -> None:
    """Queue ``create_lead_from_call`` for the call log, once per call log, in the caller's
    transaction."""
    enqueue_unique(
        CREATE_LEAD_FROM_CALL,
        key=f"call-lead:{business_id}:{call_log_id}",
        period=FOREVER,
        business_id=business_id,
        call_log_id=call_log_id,
    )


def ensure_call_is_ours(business_id: int, call_sid: str) -> None:
    """Refuse a call sid that another business already has (permanent job failure)."""
    if not call_sid:
        raise NotFoundError("a call sid is required")
    foreign = union_all(
        *(
            select(model.business_id).where(
                model.call_sid == call_sid, model.business_id != business_id
            )
            for model in (CallLog, CallSession, Recording)
        )
    )
    with system_session() as session:
        if session.execute(foreign.limit(1)).first() is not None:
            raise NotFoundError(f"call {call_sid} not found for business {business_id}")


def erased_call(session: Session, business_id: int, call_sid: str) -> bool:
    """Whether an erasure erased the call, so what comes about it now (a late final status,
    its end, a job queued before the erasure) is dropped: writing it would log the call
    again, the person's numbers with it. Looked for under the call's lock, held to the
    caller's commit, so an erasure under way removes what the caller writes, or has
    committed and is found (``erasures/erased_calls.py``). The line names no number."""
    if not erased_call_locked(session, business_id, call_sid):
        return False
    log.info("calls.erased_call_ignored", business_id=business_id)
    return True


def _call_log(session: Session, business_id: int, call_sid: str, **defaults: Any) -> CallLog:
    now = utcnow()
    insert_ignoring_conflicts(
        session,
        CallLog.__table__,  # type: ignore[arg-type]
        {
            "business_id": business_id,
            "call_sid": call_sid,
            "status": "in-progress",
            "created_at": now,
            "updated_at": now,
            **{k: v for k, v in defaults.items() if v is not None},
        },
    )
    return session.execute(
        select(CallLog)
        .where(CallLog.business_id == business_id, CallLog.call_sid == call_sid)
        .with_for_update()
    ).scalar_one()


def _call_session(session: Session, business_id: int, call_sid: str) -> CallSession:
    now = utcnow()
    insert_ignoring_conflicts(
        session,
        CallSession.__table__,  # type: ignore[arg-type]
        {
            "business_id": business_id,
            "call_sid": call_sid,
            "state": "active",
            "created_at": now,
            "updated_at": now,
        },
    )
    return session.execute(
        select(CallSession)
        .where(CallSession.business_id == business_id, CallSession.call_sid == call_sid)
        .with_for_update()
    ).scalar_one()


def caller_number(call_log: CallLog) -> str | None:
    """The customer's number: the caller of an inbound call, the callee of an outbound one."""
    return call_log.to_number if call_log.direction == "outbound" else call_log.from_number


def setup_call(business_id: int, *, call_sid: str, **fields: Any) -> int | None:
    """A call began: its call log and session exist, linked to the caller's lead (None,
    nothing written, for an erased call)."""
    ensure_call_is_ours(business_id, call_sid)
    started_at = parse_time(fields.get("started_at"))
    with tenant_session(business_id) as session:
        if erased_call(session, business_id, call_sid):
            return None
        call_log = _call_log(session, business_id, call_sid, direction=fields.get("direction"))
        # The call-event consumer may have written the log first (its numbers, for one).
        _fill_blanks(
            call_log,
            direction=fields.get("direction"),
            from_number=fields.get("from_number"),
            to_number=fields.get("to_number"),
            started_at=started_at,
            outbound_run_id=fields.get("run_id"),
            outbound_item_id=fields.get("item_id"),
        )
        call_session = _call_session(session, business_id, call_sid)
        call_session.stream_sid = call_session.stream_sid or fields.get("stream_sid")
        call_session.started_at = call_session.started_at or started_at
        phone = caller_number(call_log)
        if phone and call_log.lead_id is None:
            lead, _ = upsert_lead(session, business_id, phone, source="call")
            call_log.lead_id = lead.id
        log.info("calls.set_up", business_id=business_id, call_sid=call_sid)
        return call_log.id


def _fill_blanks(call_log: CallLog, **updates: Any) -> None:
    """``status`` always takes a new value; every other field only fills a blank one."""
    for name, value in updates.items():
        if value is not None and (name == "status" or getattr(call_log, name) in (None, [])):
            setattr(call_log, name, value)


def record_call_parties(
    session: Session,
    business_id: int,
    *,
    call_sid: str,
    direction: str | None,
    from_number: str | None,
    to_number: str | None,
    started_at: datetime | None = None,
) -> int:
    """In the caller's transaction, note who called whom on the call's log (blanks only).

    The call-event consumer writes the numbers here so that the call's jobs carry its sid,
    never a phone number; the jobs read the numbers from the call log. The caller checks the
    sid is this business's (:func:`ensure_call_is_ours`). Returns the call log's id.
    """
    call_log = _call_log(session, business_id, call_sid, direction=direction)
    _fill_blanks(
        call_log,
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        started_at=started_at,
    )
    session.flush()
    return call_log.id


def record_call_end(session: Session, business_id: int, *, call_sid: str, **fields: Any) -> int:
    """In the caller's transaction, record how a call ended (any subset of fields).

    The call log is upserted by call sid; ``status`` always takes the new value, every other
    field only fills a blank one, so the events may come in any order and more than once.
    Then its lead is found or created, and the transcript (if any) analysed, by jobs queued
    once per call log. Returns the call log's id. The caller checks the sid is this
    business's (:func:`ensure_call_is_ours`).

    A call the stale-call sweep ended (end reason :data:`NO_END_EVENT`) takes a real end's
    status and reason: the sweep presumed them; the rest it left blank for the real end.
    """
    call_log = _call_log(session, business_id, call_sid, direction=fields.get("direction"))
    if call_log.end_reason == NO_END_EVENT and fields.get("end_reason") != NO_END_EVENT:
        call_log.end_reason = None
    _fill_blanks(
        call_log,
        from_number=fields.get("from_number"),
        to_number=fields.get("to_number"),
        status=fields.get("status"),
        started_at=_as_time(fields.get("started_at")),
        ended_at=_as_time(fields.get("ended_at")),
        duration_s=fields.get("duration_s"),
        end_reason=fields.get("end_reason"),
        transcript=fields.get("transcript") or None,
        outbound_run_id=fields.get("run_id"),
        outbound_item_id=fields.get("item_id"),
    )
    session.flush()
    queue_lead_from_call(business_id, call_log.id)
    if call_log.transcript:
        queue_call_analysis(business_id, call_log.id)
    log.info("calls.log_finalized", business_id=business_id, call_sid=call_sid)
    return call_log.id


def finalize_call_log(business_id: int, *, call_sid: str, **fields: Any) -> int | None:
    """Record how a call ended in a transaction of its own (see :func:`record_call_end`);
    None, nothing written, for an erased call."""
    ensure_call_is_ours(business_id, call_sid)
    with tenant_session(business_id) as session:
        if erased_call(session, business_id, call_sid):
            return None
        return record_call_end(session, business_id, call_sid=call_sid, **fields)


def record_session_end(session: Session, business_id: int, *, call_sid: str, **fields: Any) -> int:
    """In the caller's transaction, close the call's session with its end reason (upserted by
    call sid; the stream sid and end time fill blanks only). Returns the session's id."""
    call_session = _call_session(session, business_id, call_sid)
    call_session.state = "ended"
    call_session.stream_sid = call_session.stream_sid or fields.get("stream_sid")
    call_session.ended_at = call_session.ended_at or parse_time(fields.get("ended_at"))
    call_session.details = {
        **(call_session.details or {}),
        "end_reason": fields.get("end_reason"),
    }
    return call_session.id


def finalize_call_session(business_id: int, *, call_sid: str, **fields: Any) -> int | None:
    """The media stream ended: the session is closed with its end reason (None, nothing
    written, for an erased call)."""
    ensure_call_is_ours(business_id, call_sid)
    with tenant_session(business_id) as session:
        if erased_call(session, business_id, call_sid):
            return None
        return record_session_end(session, business_id, call_sid=call_sid, **fields)


def create_lead_from_call(business_id: int, call_log_id: int) -> int | None:
    """Find or create the lead for the call's customer and link it; queue the analysis."""
    with tenant_session(business_id) as session:
        call_log = owned_row(session, CallLog, business_id, call_log_id, lock=True)
        phone = caller_number(call_log)
        if not phone:
            return None
        lead, created = upsert_lead(session, business_id, phone, source="call")
        call_log.lead_id = lead.id
        if call_log.transcript:
            queue_call_analysis(business_id, call_log.id)
        log.info("calls.lead_linked", business_id=business_id, lead_id=lead.id, created=created)
        return lead.id


def call_log_for_sid(
    session: Session, business_id: int, call_sid: str, *, lock: bool = False
) -> CallLog | None:
    """This business's call log for ``call_sid``, if there is one (``lock``: for update)."""
    query = select(CallLog).where(CallLog.business_id == business_id, CallLog.call_sid == call_sid)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


__all__ = [
    "FINAL_CALL_STATUSES",
    "NO_END_EVENT",
    "call_log_for_sid",
    "caller_number",
    "create_lead_from_call",
    "ensure_call_is_ours",
    "erased_call",
    "finalize_call_log",
    "finalize_call_session",
    "parse_time",
    "queue_call_analysis",
    "queue_lead_from_call",
    "record_call_end",
    "record_call_parties",
    "record_session_end",
    "setup_call",
]
