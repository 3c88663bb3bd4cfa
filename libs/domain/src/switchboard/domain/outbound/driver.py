"""Driving a run: the ``outbound_run_job`` tick, under a lease with a heartbeat.

One tick holds the run's lease for up to ``budget_s``, places calls up to the run's and the
business's caps, and hands over to the next tick. Every call is placed in two steps so that no
lead is ever dialed twice, whatever dies when (``dialing.py``):

1. claim an item (``pending`` → ``dialing``, committed), under the business's lock;
2. in one transaction: renew the lease (which also takes the run's row lock, so a cancel waits
   for us or we see it), look whether the person is under erasure (under the number's lock:
   then the item is closed, no call placed, ``erased.py``), place the call through Twilio,
   store its sid (``in_progress``).

An item left ``dialing`` with no call, by a driver that died or a dial that got no answer, is
never redialed: the call may have gone out. Each tick looks it up in Twilio's calls when it
starts and every ``RELOOK_EVERY_S`` (``unheard.py``): the call found is recorded as placed (its
status then asked of Twilio like any call gone quiet); the item fails only once Twilio has had
time to list the call and does not, or could not be asked for long. Meanwhile it holds its line
and its run does not complete. A run that ends meanwhile keeps looking it up
(``closing.py``), and a cancelled run's call found is ended.

A driver job for a run that has ended (``closing.ENDED``: the one a cancel enqueues, or the
reconciler's) places no call: it settles the run's calls in flight (``closing.py``).

While it waits (for a free line, for the calling window), a tick that other jobs wait for in
its worker process (``others_wait``: a job taken over from a dead worker waits to run alone,
or jobs wait behind this tick running alone) hands over to the next tick at once: the call
statuses it waits for may be among them.

The tick checks between calls whether its job was cancelled (``raise_if_cancelled``); if so it
cancels the run as ``runs.cancel_run`` does, ends the calls in progress and stops, and the job
ends ``cancelled``. A worker that dies mid-tick leaves the run to the next delivery of the tick
or to the scheduler's reconciler (``scheduled.py``).
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.jobs import others_wait, raise_if_cancelled
from switchboard.common.jobs.errors import JobCancelled
from switchboard.common.logging import get_logger
from switchboard.common.models import Business, OutboundItem, OutboundRun
from switchboard.domain.outbound.calls import STALE_CALL, look_up_quiet_calls
from switchboard.domain.outbound.closing import ENDED, finish_calls
from switchboard.domain.outbound.dialing import CallUrls, DialRetries, claim_item, dial
from switchboard.domain.outbound.lease import acquire_lease, release_lease, renew_lease
from switchboard.domain.outbound.progress import IN_FLIGHT
from switchboard.domain.outbound.runs import cancel_pending_items, stop_run
from switchboard.domain.outbound.unheard import settle_unheard_dials

log = get_logger(__name__)

#: How often a tick looks up again the dials whose outcome is unknown (``unheard.py``): a
#: call Twilio lists a few seconds late is recorded soon after, well within the grace.
RELOOK_EVERY_S = 5.0


def in_calling_window(run: OutboundRun, tz: str, now: datetime) -> bool:
    """True if ``now`` falls in the run's calling window, read in the business's time zone."""
    if not run.window_start or not run.window_end:
        return True
    local = now.astimezone(zoneinfo.ZoneInfo(tz)).strftime("%H:%M")
    if run.window_start <= run.window_end:
        return run.window_start <= local < run.window_end
    return local >= run.window_start or local < run.window_end  # a window across midnight


def _finish_if_done(business_id: int, run_id: int) -> bool:
    with tenant_session(business_id) as session:
        open_items = (
            session.scalar(
                select(func.count())
                .select_from(OutboundItem)
                .where(
                    OutboundItem.business_id == business_id,
                    OutboundItem.run_id == run_id,
                    OutboundItem.status.in_(("pending", *IN_FLIGHT)),
                )
            )
            or 0
        )
        if open_items:
            return False
        close_running_run(session, business_id, run_id, "completed", "every lead was called")
        return True


def close_running_run(
    session: Session,
    business_id: int,
    run_id: int,
    status: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """End a running run with ``status`` and ``reason``, releasing its driver's lease; items
    never dialed are cancelled (a completed run has none). Its calls in flight are settled by
    ``closing.finish_calls``."""
    ended = session.execute(
        update(OutboundRun)
        .where(
            OutboundRun.business_id == business_id,
            OutboundRun.id == run_id,
            OutboundRun.status == "running",
        )
        .values(
            status=status,
            finished_at=now or utcnow(),
            lease_owner=None,
            lease_expires_at=None,
            end_reason=reason,
        )
        .returning(OutboundRun.id)
    ).first()
    if ended is not None:
        cancel_pending_items(session, business_id, run_id, reason)


def drive_run(
    business_id: int,
    run_id: int,
    *,
    owner: str,
    twilio: TwilioRest,
    urls: CallUrls,
    budget_s: float = 50.0,
    poll_s: float = 0.2,
    retries: DialRetries = DialRetries(),
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run one tick; returns ``continue`` (enqueue the next tick) or why it stopped.

    Raises :class:`JobCancelled` once it has stopped for its job's cancellation.
    """
    with tenant_session(business_id) as session:
        run = session.execute(
            select(OutboundRun).where(
                OutboundRun.business_id == business_id, OutboundRun.id == run_id
            )
        ).scalar_one_or_none()
        business = session.execute(select(Business).where(Business.id == business_id)).scalar_one()
    if run is None:
        return "missing"
    if run.status in ENDED:
        finish_calls(business_id, run_id, twilio, run.status)
        return str(run.status)
    if run.status != "running" or not acquire_lease(business_id, run_id, owner):
        return "not-owner"
    settle_unheard_dials(business_id, run_id, twilio)
    look_up_quiet_calls(business_id, run_id, twilio, older_than=timedelta(0))
    deadline = time.monotonic() + budget_s
    relook_at = time.monotonic() + RELOOK_EVERY_S
    while time.monotonic() < deadline:
        _stop_if_job_cancelled(business_id, run_id, twilio)
        with tenant_session(business_id) as session:
            run = session.execute(
                select(OutboundRun).where(
                    OutboundRun.business_id == business_id, OutboundRun.id == run_id
                )
            ).scalar_one()
            cancelled = run.status == "cancelled"
            if not cancelled and not renew_lease(session, business_id, run_id, owner):
                return "lost-lease"
        if cancelled:
            finish_calls(business_id, run_id, twilio, "cancelled")
            return "cancelled"
        if time.monotonic() >= relook_at:
            settle_unheard_dials(business_id, run_id, twilio)
            relook_at = time.monotonic() + RELOOK_EVERY_S
        look_up_quiet_calls(business_id, run_id, twilio, older_than=STALE_CALL)
        if _finish_if_done(business_id, run_id):
            log.info("outbound.run_completed", business_id=business_id, run_id=run_id)
            return "completed"
        settled = False
        if in_calling_window(run, business.timezone, utcnow()):
            item_id = claim_item(business_id, run)
            if item_id is not None:
                settled = dial(
                    business_id,
                    run_id,
                    item_id,
                    owner=owner,
                    twilio=twilio,
                    urls=urls,
                    retries=retries,
                    sleep=sleep,
                )
        if not settled:
            if others_wait():  # hand over: the next tick is queued behind the waiting jobs
                break
            sleep(poll_s)
    release_lease(business_id, run_id, owner)
    return "continue"


def _stop_if_job_cancelled(business_id: int, run_id: int, twilio: TwilioRest) -> None:
    """A checkpoint between calls: a cancelled tick cancels its run, ends its calls, stops."""
    try:
        raise_if_cancelled()
    except JobCancelled:
        with tenant_session(business_id) as session:
            stop_run(session, business_id, run_id, "cancelled: its driver job was cancelled")
        finish_calls(business_id, run_id, twilio, "cancelled")
        log.info("outbound.run_cancelled_with_its_job", business_id=business_id, run_id=run_id)
        raise
