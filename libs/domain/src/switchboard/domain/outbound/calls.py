"""Moving an item on Twilio's call status: done, retried later, or failed.

A status applies to an item in flight whatever its run's state: a call placed before its run
was cancelled or failed still ends on its item (a ``busy`` or ``no-answer`` then fails it,
never puts it back to be dialed). Calls that went quiet (callbacks lost) are asked of Twilio
(:func:`look_up_quiet_calls`), by the run's driver and, once the run has ended, by the passes
that settle its calls (``closing.py``).

Twilio's status callbacks can arrive, and be processed, out of order (one job each, run
concurrently): ``ringing`` after ``in-progress``. An item's ``last_call_status`` therefore never
moves backwards (queued < initiated < ringing < in-progress; a final status always wins), which
the ``UPDATE`` decides itself with a ``CASE`` on the stored status, so that two writers cannot
race between a read and a write.

An answered call of an item that failed because its dial's call was never found (Twilio
listed it after the grace, ``unheard.py``) is adopted: the item records the call and moves
on its statuses like any other (:func:`_adopt_late_call`). Under a cancelled run the call is
then ended through Twilio by the run's settling pass (``closing.py``), enqueued at once; under
a run that failed or completed it is left to end by itself, as that run's other calls.

No status of a call an erasure erased moves its item (``calls.logs.erased_call``, looked for
under the call's lock before the item is read): the erased person is never put back to be
dialed, nor an erased call adopted. Only the call's end, if the item is still in flight on it,
closes the item as the erasure closes the person's items still to be dialed
(``erasures.job.erased_item_closed``), so that its line is freed and its run can end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import case, literal, select, update

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import PermanentIntegrationError
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.logging import get_logger
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.calls.logs import FINAL_CALL_STATUSES, erased_call
from switchboard.domain.erasures.job import erased_item_closed
from switchboard.domain.outbound.progress import IN_FLIGHT
from switchboard.domain.outbound.runs import enqueue_driver
from switchboard.domain.outbound.unheard import failed_unheard

log = get_logger(__name__)

RINGING = {"queued", "initiated", "ringing", "in-progress", "answered"}
#: The statuses of a call that was answered (``completed`` ends a call that connected).
ANSWERED = {"in-progress", "answered", "completed"}
RETRYABLE = {"busy", "no-answer"}
FAILED = {"failed", "canceled"}
#: The order of a call's statuses before it ends (``answered`` is the gateway's name for
#: ``in-progress``); a status not listed here (the final ones) always wins.
PROGRESS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3}
_FINAL_RANK = 4
#: An in-flight call with no news for this long is looked up at Twilio.
STALE_CALL = timedelta(seconds=30)


def _forward_only(call_status: str) -> Any:
    """``last_call_status``'s new value: ``call_status`` unless the stored one is further on."""
    if call_status not in PROGRESS_RANK:
        return literal(call_status)
    # A stored status not in the order has ended the call: nothing moves it back.
    stored_rank = case(PROGRESS_RANK, value=OutboundItem.last_call_status, else_=_FINAL_RANK)
    return case(
        (OutboundItem.last_call_status.is_(None), literal(call_status)),
        (stored_rank <= PROGRESS_RANK[call_status], literal(call_status)),
        else_=OutboundItem.last_call_status,
    )


class ItemNotFoundError(LookupError):
    """The item is not this business's (or does not exist)."""


def apply_call_status(
    business_id: int, run_id: int, item_id: int, call_sid: str, call_status: str
) -> str | None:
    """Apply a status to the item; returns its new status, or None if it is not ours or final.

    ``busy`` and ``no-answer`` put the item back to ``pending`` while the run's retry policy
    allows another attempt; the driver waits ``retry_delay_s`` before dialing it again. A
    status of an erased call never does (:func:`_close_erased`).
    """
    with tenant_session(business_id) as session:
        erased = erased_call(session, business_id, call_sid)
        item = session.execute(
            select(OutboundItem)
            .where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.id == item_id,
            )
            .with_for_update()
        ).scalar_one_or_none()
        if item is None:
            raise ItemNotFoundError(f"outbound item {item_id} of run {run_id} not found")
        if erased:
            return _close_erased(item, call_sid, call_status)
        adopted = item.call_sid != call_sid and _adopt_late_call(item, call_sid, call_status)
        if item.call_sid != call_sid:
            return None  # a status for an earlier attempt's call
        if item.status not in ("dialing", "in_progress"):
            return None
        run = session.execute(
            select(OutboundRun).where(
                OutboundRun.business_id == business_id, OutboundRun.id == run_id
            )
        ).scalar_one()
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.business_id == business_id, OutboundItem.id == item_id)
            .values(last_call_status=_forward_only(call_status), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        max_attempts = int((run.retry_policy or {}).get("max_attempts", 1))
        if call_status in RINGING:
            item.status = "in_progress"
        elif call_status == "completed":
            item.status, item.completed_at = "completed", utcnow()
        elif call_status in RETRYABLE and item.attempts < max_attempts and run.status == "running":
            item.status, item.completed_at = "pending", utcnow()
        elif call_status in RETRYABLE | FAILED:
            item.status, item.completed_at = "failed", utcnow()
            item.error = f"call ended {call_status}"
        else:
            return item.status
        if adopted:
            log.info(
                "outbound.late_call_adopted",
                business_id=business_id,
                run_id=run_id,
                item_id=item_id,
                run_status=run.status,
                item_status=item.status,
            )
            if run.status == "cancelled" and item.status == "in_progress":
                enqueue_driver(business_id, run_id)  # its settling pass ends the call
        return item.status


def _close_erased(item: OutboundItem, call_sid: str, call_status: str) -> str | None:
    """The item of a call an erasure erased: moved by none of its statuses; closed, never to
    be dialed again, by its end while it is in flight on it. Its new status, or None."""
    ended = call_status in FINAL_CALL_STATUSES
    if not ended or item.call_sid != call_sid or item.status not in IN_FLIGHT:
        return None
    for column, value in erased_item_closed().items():
        setattr(item, column, value)
    log.info(
        "outbound.erased_call_closed",
        business_id=item.business_id,
        run_id=item.run_id,
        item_id=item.id,
    )
    return item.status


def _adopt_late_call(item: OutboundItem, call_sid: str, call_status: str) -> bool:
    """Record ``call_sid`` on an item that failed because its dial's call was never found
    (``unheard.failed_unheard``), if ``call_status`` says the call was answered; whether it did.

    Only an answered call is adopted: it can only be that dial's. The item's earlier calls
    (before a retry) all ended ``busy`` or ``no-answer``, unanswered, and a late ``ringing``
    or ``busy`` of one of them must not put the item back in flight (or to be dialed again).
    Adopted, the item is ``in_progress`` with the call as if its dial had been answered; the
    status is then applied as usual. The caller holds the item's row lock: a second status of
    the same call finds it recorded.
    """
    if call_status not in ANSWERED or not failed_unheard(item):
        return False
    item.call_sid, item.status = call_sid, "in_progress"
    item.placed_at, item.completed_at, item.error = utcnow(), None, None
    item.calls_placed = (item.calls_placed or 0) + 1
    return True


def look_up_quiet_calls(
    business_id: int, run_id: int, twilio: TwilioRest, older_than: timedelta
) -> None:
    """Ask Twilio about the run's in-flight calls we heard nothing of for ``older_than``
    (callbacks lost in a restart) and apply what it says."""
    cutoff = utcnow() - older_than
    with tenant_session(business_id) as session:
        quiet = session.execute(
            select(OutboundItem.id, OutboundItem.call_sid).where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.status == "in_progress",
                OutboundItem.updated_at <= cutoff,
                OutboundItem.call_sid.is_not(None),
            )
        ).all()
    for item_id, call_sid in quiet:
        assert call_sid is not None  # selected with call_sid IS NOT NULL
        try:
            status = twilio.call_status(call_sid)
        except PermanentIntegrationError:
            status = "failed"
        apply_call_status(business_id, run_id, item_id, call_sid, status)
