"""Calls whose end never came: ended by a sweep once nothing can still happen on them.

A call log says ``in-progress`` from its first event until a final ``call.status`` or
``call.ended``. A gateway that dies mid-call (SIGKILL, OOM, a lost host) publishes neither,
and Twilio's status callback may be lost with it: the call would say ``in-progress`` for good,
in the calls list and on the dashboard. Gateways publish no heartbeat or list of live calls
(only a per-process gauge on ``/metrics``), so a call is taken for *stale* when either

- its log has not changed for its business's ``max_call_seconds`` (where the gateway hangs up)
  plus ``CALL_END_GRACE_S`` (300 s): no call of that business can still be live; or
- Twilio has already given the call's outbound item a final status for this call sid (the
  outbound driver looks calls up at Twilio when their callbacks stop) at least
  :data:`ITEM_SETTLE` ago, and the call log never heard of it.

:func:`end_stale_calls` ends each stale call of one business, one transaction per call with
its row locked and checked again (an end that arrived meanwhile wins): the status is the
outbound item's final one if it has one, so the calls list and the run agree; otherwise
:data:`PRESUMED_STATUS`, and an outbound item still in flight is moved with it through
``outbound_call_status_job``, as a real status would. The end reason is
:data:`~switchboard.domain.calls.logs.NO_END_EVENT`, the end time and duration are left
blank, and the call's session is closed. ``failed`` and not ``completed``: we do not know how
the call went; ``completed`` is Twilio's word for a call that connected and ended normally,
which the dashboard and an outbound run would count as a lead reached, while the outbound
driver's own look-up records such lost calls as ``failed`` (and ``failed`` is never redialed).

A real end that arrives after the sweep is applied as usual: one call log per sid (no
duplicate), its status replaces the presumed one, its end reason replaces ``no_end_event``,
its end time, duration and transcript fill the blanks; no event moves a call log back to
``in-progress``. An outbound item the sweep failed stays failed (final items do not move).

While ``ENABLE_SCHEDULERS=false`` emits no sweep, the scheduler's leader runs it itself every
minute for every business (:func:`end_every_stale_call`, a safety check): a call log left
open is state that would otherwise stay wrong, and ending it dials no one.

Run twice, the sweep finds nothing more: an ended call is no longer open. A worker that dies
mid-sweep leaves the calls it ended ended and the rest open; the next tick's job (or the
redelivery) ends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.jobs import FOREVER, enqueue_unique, raise_if_cancelled
from switchboard.common.jobs.catalog import OUTBOUND_CALL_STATUS
from switchboard.common.jobs.schedules import Tick
from switchboard.common.logging import get_logger
from switchboard.common.models import Business, CallLog, OutboundItem
from switchboard.common.models.calls import OPEN_CALL_SQL
from switchboard.common.settings import get_settings
from switchboard.domain.calls.logs import (
    FINAL_CALL_STATUSES,
    NO_END_EVENT,
    record_call_end,
    record_session_end,
)

log = get_logger(__name__)

#: The status of a stale call whose outbound item (if any) has none of its own.
PRESUMED_STATUS = "failed"
#: How long an outbound item's final status waits for the call's own end, queued with it.
ITEM_SETTLE = timedelta(seconds=60)


def quiet_limit(max_call_seconds: int) -> timedelta:
    """How long a call of a business with this longest call may go without an event."""
    return timedelta(seconds=max_call_seconds + get_settings().call_end_grace_s)


def open_calls(now: datetime) -> Select[int, int, str, datetime, int, bool]:
    """Every open call: its business's longest call, when it last changed, and whether its
    outbound item already has a final status for it."""
    settled = (
        select(OutboundItem.id)
        .where(
            OutboundItem.business_id == CallLog.business_id,
            OutboundItem.call_sid == CallLog.call_sid,
            OutboundItem.last_call_status.in_(FINAL_CALL_STATUSES),
            OutboundItem.updated_at < now - ITEM_SETTLE,
        )
        .exists()
    )
    return (
        select(
            CallLog.id,
            CallLog.business_id,
            CallLog.call_sid,
            CallLog.updated_at,
            Business.max_call_seconds,
            settled.label("settled"),
        )
        .join(Business, Business.id == CallLog.business_id)
        .where(OPEN_CALL_SQL)  # through the open calls' partial index
    )


def _is_stale(call: Row[int, int, str, datetime, int, bool], now: datetime) -> bool:
    return bool(call.settled) or as_utc(call.updated_at) < now - quiet_limit(call.max_call_seconds)


def businesses_with_stale_calls(session: Session, tick: Tick) -> Iterable[int]:
    """The businesses with a call no event has ended that cannot still be live."""
    calls = session.execute(open_calls(tick.at).where(tick.scope(CallLog.business_id)))
    return sorted({call.business_id for call in calls if _is_stale(call, tick.at)})


def _end_call(session: Session, business_id: int, call_log_id: int, now: datetime) -> str | None:
    """End the call if it is still open and stale (its row locked); the status it ended with."""
    call = session.execute(
        open_calls(now)
        .where(CallLog.business_id == business_id, CallLog.id == call_log_id)
        .with_for_update(of=CallLog)
    ).one_or_none()
    if call is None or not _is_stale(call, now):
        return None  # an end arrived meanwhile, or an event: it is not ours to end
    item = session.execute(
        select(OutboundItem.id, OutboundItem.run_id, OutboundItem.last_call_status)
        .where(OutboundItem.business_id == business_id, OutboundItem.call_sid == call.call_sid)
        .order_by(OutboundItem.id.desc())
        .limit(1)
    ).one_or_none()
    told = item.last_call_status if item is not None else None
    if told not in FINAL_CALL_STATUSES:
        told = None  # the item has not heard the call's end either
    status = told or PRESUMED_STATUS
    record_call_end(
        session,
        business_id,
        call_sid=call.call_sid,
        status=status,
        end_reason=NO_END_EVENT,
        run_id=item.run_id if item else None,
        item_id=item.id if item else None,
    )
    record_session_end(session, business_id, call_sid=call.call_sid, end_reason=NO_END_EVENT)
    if item is not None and told is None:
        # The item moves as on a real status: it is failed, never redialed.
        enqueue_unique(
            OUTBOUND_CALL_STATUS,
            key=f"stale-call:{call_log_id}:{OUTBOUND_CALL_STATUS.name}",
            period=FOREVER,
            business_id=business_id,
            run_id=item.run_id,
            item_id=item.id,
            call_sid=call.call_sid,
            call_status=status,
        )
    return status


def end_stale_calls(business_id: int, now: datetime | None = None) -> int:
    """End this business's stale calls, one transaction each; how many were ended."""
    now = now or utcnow()
    with tenant_session(business_id) as session:
        calls = session.execute(open_calls(now).where(CallLog.business_id == business_id))
        stale = [call.id for call in calls if _is_stale(call, now)]
    ended = 0
    for call_log_id in stale:
        raise_if_cancelled()  # a checkpoint between calls
        with tenant_session(business_id) as session:
            status = _end_call(session, business_id, call_log_id, now)
        if status is not None:
            ended += 1
            log.info(
                "calls.stale_call_ended",
                business_id=business_id,
                call_log_id=call_log_id,
                status=status,
            )
    return ended


def end_every_stale_call(now: datetime | None = None) -> int:
    """The safety check: end every business's stale calls here, in the scheduler's leader,
    while ``ENABLE_SCHEDULERS=false`` emits no sweep; how many were ended."""
    now = now or utcnow()
    with system_session() as session:
        business_ids = list(businesses_with_stale_calls(session, Tick(now)))
    return sum(end_stale_calls(business_id, now) for business_id in business_ids)


__all__ = [
    "ITEM_SETTLE",
    "PRESUMED_STATUS",
    "businesses_with_stale_calls",
    "open_calls",
    "end_every_stale_call",
    "end_stale_calls",
    "quiet_limit",
]
