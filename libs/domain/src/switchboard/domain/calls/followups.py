"""What a call event leads to: the follow-up jobs, enqueued once per event in one transaction.

Each job's dedup key is ``<event_id>:<actor>`` kept forever, so an event delivered twice
(the bus is at-least-once) creates no second job, and neither does a status or recording
callback Twilio sent again: its event has the first's id (``events.models.fact_event_id``).
A recording's job is keyed by its sid besides (the key of the events published before their
ids were derived). Jobs carry ids:
what ``call.ended`` reports (timings, end reason, transcript) and the callers' numbers are
written on the call log in that transaction, and webhook bodies on their delivery rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeGuard

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.events.models import (
    CallEnded,
    CallStarted,
    CallStatusChanged,
    EventBase,
    RecordingReady,
)
from switchboard.common.jobs import FOREVER, ActorSpec, JobRef, enqueue_unique
from switchboard.common.jobs.catalog import (
    DEFERRED_CALL_SETUP,
    FINALIZE_CALL_LOG,
    FINALIZE_CALL_SESSION,
    OUTBOUND_CALL_STATUS,
    PROCESS_RECORDING,
)
from switchboard.common.logging import correlated, get_logger
from switchboard.domain.businesses.accounts import business_exists
from switchboard.domain.calls.logs import (
    FINAL_CALL_STATUSES,
    ensure_call_is_ours,
    erased_call,
    record_call_end,
    record_call_parties,
)
from switchboard.domain.webhooks.delivery import enqueue_event_webhooks
from switchboard.domain.webhooks.events import WEBHOOK_EVENTS

log = get_logger(__name__)


def _once(event: EventBase, spec: ActorSpec, **kwargs: Any) -> JobRef:
    return enqueue_unique(
        spec,
        key=f"{event.event_id}:{spec.name}",
        period=FOREVER,
        business_id=event.business_id,
        **kwargs,
    )


def _outbound_item(event: CallStatusChanged | CallEnded, call_status: str) -> list[JobRef]:
    """An outbound run's item moves on every status of its call (and on its end)."""
    if event.run_id is None or event.item_id is None:
        return []
    return [
        _once(
            event,
            OUTBOUND_CALL_STATUS,
            run_id=event.run_id,
            item_id=event.item_id,
            call_sid=event.call_sid,
            call_status=call_status,
        )
    ]


def _record_parties(
    session: Session, event: CallStarted | CallStatusChanged, started_at: datetime | None = None
) -> None:
    """The call's numbers go on its log, in this transaction; its jobs get the sid only."""
    if event.from_number or event.to_number:
        record_call_parties(
            session,
            event.business_id,
            call_sid=event.call_sid,
            direction=event.direction,
            from_number=event.from_number,
            to_number=event.to_number,
            started_at=started_at,
        )


def _jobs_for(session: Session, event: EventBase, erased: bool) -> list[JobRef]:
    """The event's writes and jobs. Of a call an erasure erased, only the outbound item's
    job (no personal data; it never puts the item back to be dialed, and frees its line at
    the call's end: ``outbound/calls.py``) and a recording's job (which deletes the
    recording at Twilio): nothing that logs the call again."""
    if erased and not isinstance(event, RecordingReady):
        match event:
            case CallStatusChanged():
                return _outbound_item(event, event.call_status)
            case CallEnded():
                return _outbound_item(event, "completed")
            case _:
                return []
    match event:
        case CallStarted():
            _record_parties(session, event, event.started_at)
            return [
                _once(
                    event,
                    DEFERRED_CALL_SETUP,
                    call_sid=event.call_sid,
                    stream_sid=event.stream_sid,
                    direction=event.direction,
                    started_at=event.started_at.isoformat(),
                    run_id=event.run_id,
                    item_id=event.item_id,
                )
            ]
        case CallStatusChanged():
            if event.call_status not in FINAL_CALL_STATUSES:
                return _outbound_item(event, event.call_status)
            _record_parties(session, event)
            return _outbound_item(event, event.call_status) + [
                _once(
                    event,
                    FINALIZE_CALL_LOG,
                    call_sid=event.call_sid,
                    status=event.call_status,
                    direction=event.direction,
                    duration_s=event.call_duration_s,
                    run_id=event.run_id,
                    item_id=event.item_id,
                )
            ]
        case CallEnded():
            record_call_end(
                session,
                event.business_id,
                call_sid=event.call_sid,
                status="completed",
                direction=event.direction,
                from_number=event.from_number,
                to_number=event.to_number,
                started_at=event.started_at,
                ended_at=event.ended_at,
                duration_s=event.duration_s,
                end_reason=event.end_reason,
                transcript=[
                    {"role": turn.role, "text": turn.text, "at": turn.at.isoformat()}
                    for turn in event.transcript
                ],
                run_id=event.run_id,
                item_id=event.item_id,
            )
            return _outbound_item(event, "completed") + [
                _once(
                    event,
                    FINALIZE_CALL_SESSION,
                    call_sid=event.call_sid,
                    ended_at=event.ended_at.isoformat(),
                    stream_sid=event.stream_sid,
                    end_reason=event.end_reason,
                ),
            ]
        case RecordingReady():
            # Keyed by the recording (as before events of one recording shared their id):
            # Twilio retries an unanswered callback. A recording of an erased call gets its
            # job too: the job deletes it at Twilio, downloading nothing (``recordings.py``).
            return [
                enqueue_unique(
                    PROCESS_RECORDING,
                    key=f"recording:{event.business_id}:{event.recording_sid}",
                    period=FOREVER,
                    business_id=event.business_id,
                    recording_sid=event.recording_sid,
                    call_sid=event.call_sid,
                    recording_url=event.recording_url,
                    duration_s=event.duration_s,
                )
            ]
        case _:
            return []


def _writes_call_log(event: EventBase) -> TypeGuard[CallStarted | CallStatusChanged | CallEnded]:
    if isinstance(event, CallStatusChanged):
        final = event.call_status in FINAL_CALL_STATUSES
        return final and bool(event.from_number or event.to_number)
    return isinstance(event, CallEnded) or (
        isinstance(event, CallStarted) and bool(event.from_number or event.to_number)
    )


def _erased(session: Session, event: EventBase) -> bool:
    """Whether the event is about a call an erasure erased (a late final status, its end, a
    late recording), looked for under the call's lock (``calls/logs.py``)."""
    call_sid = getattr(event, "call_sid", None)
    return bool(call_sid) and erased_call(session, event.business_id, str(call_sid))


def _announced(event: EventBase, erased: bool) -> bool:
    """Whether the event goes to the business's webhooks: nothing about a call an erasure
    erased (its delivery would name the call again, its numbers or its recording)."""
    return event.type in WEBHOOK_EVENTS and not erased


def enqueue_follow_ups(event: EventBase) -> list[JobRef]:
    """Enqueue the event's jobs and webhooks; committed when this returns.

    ``call.ended`` is recorded on the call log in the same transaction (its transcript is in
    the database at commit, whether or not a worker runs), and so are the numbers of
    ``call.started`` and of a final ``call.status``: the jobs get ids and sids only. An event
    of a call an erasure erased writes nothing and is not announced (``_jobs_for``). Raises
    ``NotFoundError`` for a call sid another business has, and for a business that does not
    exist (the database's foreign-key error, told in words: no table or constraint names
    reach a parked event's error).
    """
    # The call's sid on these lines and on every job enqueued here (and on the worker's lines
    # for them): one call is followed from the gateway to its jobs by its sid.
    with correlated(call_sid=getattr(event, "call_sid", None)):
        if _writes_call_log(event):
            ensure_call_is_ours(event.business_id, event.call_sid)
        try:
            with tenant_session(event.business_id) as session:
                erased = _erased(session, event)
                refs = _jobs_for(session, event, erased)
                webhooks = 0
                if _announced(event, erased):
                    payload = event.model_dump(mode="json")
                    webhooks = enqueue_event_webhooks(
                        session, event.business_id, event.type, event.event_id, payload
                    )
        except IntegrityError:
            # Looked up only once a write failed: the events of live businesses pay nothing.
            if not business_exists(event.business_id):
                raise NotFoundError(f"business {event.business_id} does not exist") from None
            raise
        log.info(
            "call_event.followed_up",
            event_id=event.event_id,
            type=event.type,
            business_id=event.business_id,
            jobs=sum(ref.created for ref in refs),
            webhooks=webhooks,
        )
    return refs
