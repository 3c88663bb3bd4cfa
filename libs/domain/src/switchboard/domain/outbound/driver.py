"""Driving a run: the ``outbound_run_job`` tick, under a lease with a heartbeat.

One tick holds the run's lease for up to ``budget_s``, places calls up to the concurrency cap,
and hands over to the next tick. Every call is placed in two steps so that no lead is ever
dialed twice, whatever dies when:

1. claim an item (``pending`` → ``dialing``, committed);
2. in one transaction: renew the lease (which also takes the run's row lock, so a cancel waits
   for us or we see it), place the call through Twilio, store its sid (``in_progress``).

An item left ``dialing`` by a driver that died is never redialed: the call may have gone out.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.logging import get_logger
from switchboard.common.models import Business, OutboundItem, OutboundRun
from switchboard.domain.outbound.calls import apply_call_status
from switchboard.domain.outbound.progress import IN_FLIGHT

log = get_logger(__name__)

LEASE = timedelta(seconds=15)
#: An in-flight call with no news for this long is looked up at Twilio.
STALE_CALL = timedelta(seconds=30)


@dataclass(frozen=True)
class CallUrls:
    """Where Twilio fetches the outbound TwiML and sends status callbacks (the gateway)."""

    gateway_base_url: str

    def twiml(self, business_id: int, run_id: int, item_id: int) -> str:
        return (
            f"{self.gateway_base_url}/twilio/voice/outbound"
            f"?business_id={business_id}&run_id={run_id}&item_id={item_id}"
        )

    def status(self, business_id: int, run_id: int, item_id: int) -> str:
        return (
            f"{self.gateway_base_url}/twilio/voice/status"
            f"?business_id={business_id}&run_id={run_id}&item_id={item_id}"
        )


def _renew_lease(session: object, business_id: int, run_id: int, owner: str) -> bool:
    now = utcnow()
    row = session.execute(  # type: ignore[attr-defined]
        update(OutboundRun)
        .where(
            OutboundRun.business_id == business_id,
            OutboundRun.id == run_id,
            OutboundRun.status == "running",
            OutboundRun.lease_owner == owner,
        )
        .values(heartbeat_at=now, lease_expires_at=now + LEASE)
        .returning(OutboundRun.id)
    ).first()
    return row is not None


def acquire_lease(business_id: int, run_id: int, owner: str) -> bool:
    """Take the run's lease if it is free, expired, or already ours."""
    now = utcnow()
    with tenant_session(business_id) as session:
        row = session.execute(
            update(OutboundRun)
            .where(
                OutboundRun.business_id == business_id,
                OutboundRun.id == run_id,
                OutboundRun.status == "running",
                (OutboundRun.lease_owner.is_(None))
                | (OutboundRun.lease_expires_at < now)
                | (OutboundRun.lease_owner == owner),
            )
            .values(lease_owner=owner, lease_expires_at=now + LEASE, heartbeat_at=now)
            .returning(OutboundRun.id)
        ).first()
        return row is not None


def release_lease(business_id: int, run_id: int, owner: str) -> None:
    """Let the next tick take over at once."""
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundRun)
            .where(
                OutboundRun.business_id == business_id,
                OutboundRun.id == run_id,
                OutboundRun.lease_owner == owner,
            )
            .values(lease_owner=None, lease_expires_at=None)
        )


def _fail_interrupted_dials(business_id: int, run_id: int) -> int:
    with tenant_session(business_id) as session:
        rows = session.execute(
            update(OutboundItem)
            .where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.status == "dialing",
                OutboundItem.call_sid.is_(None),
            )
            .values(
                status="failed",
                completed_at=utcnow(),
                error="interrupted while placing the call; not redialed to avoid a duplicate",
            )
            .returning(OutboundItem.id)
        ).all()
    return len(rows)


def _reconcile(business_id: int, run_id: int, twilio: TwilioRest, older_than: timedelta) -> None:
    """Ask Twilio about in-flight calls we heard nothing of (callbacks lost in a restart)."""
    cutoff = utcnow() - older_than
    with tenant_session(business_id) as session:
        stale = session.execute(
            select(OutboundItem.id, OutboundItem.call_sid).where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.status == "in_progress",
                OutboundItem.updated_at <= cutoff,
                OutboundItem.call_sid.is_not(None),
            )
        ).all()
    for item_id, call_sid in stale:
        assert call_sid is not None  # selected with call_sid IS NOT NULL
        try:
            status = twilio.call_status(call_sid)
        except PermanentIntegrationError:
            status = "failed"
        apply_call_status(business_id, run_id, item_id, call_sid, status)


def in_calling_window(run: OutboundRun, tz: str, now: datetime) -> bool:
    """True if ``now`` falls in the run's calling window, read in the business's time zone."""
    if not run.window_start or not run.window_end:
        return True
    local = now.astimezone(zoneinfo.ZoneInfo(tz)).strftime("%H:%M")
    if run.window_start <= run.window_end:
        return run.window_start <= local < run.window_end
    return local >= run.window_start or local < run.window_end  # a window across midnight


def _claim(business_id: int, run: OutboundRun, business: Business) -> OutboundItem | None:
    """Mark the next due item ``dialing`` if the run and the business have capacity."""
    policy = run.retry_policy or {}
    delay = timedelta(seconds=int(policy.get("retry_delay_s", 300)))
    with tenant_session(business_id) as session:
        busy_business = (
            session.scalar(
                select(func.count())
                .select_from(OutboundItem)
                .where(OutboundItem.business_id == business_id, OutboundItem.status.in_(IN_FLIGHT))
            )
            or 0
        )
        busy_run = (
            session.scalar(
                select(func.count())
                .select_from(OutboundItem)
                .where(
                    OutboundItem.business_id == business_id,
                    OutboundItem.run_id == run.id,
                    OutboundItem.status.in_(IN_FLIGHT),
                )
            )
            or 0
        )
        if busy_run >= run.concurrency or busy_business >= business.outbound_concurrency_cap:
            return None
        now = utcnow()
        item = session.execute(
            select(OutboundItem)
            .where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run.id,
                OutboundItem.status == "pending",
                OutboundItem.completed_at.is_(None) | (OutboundItem.completed_at <= now - delay),
            )
            .order_by(OutboundItem.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if item is None:
            return None
        item.status, item.attempts, item.placed_at, item.call_sid = (
            "dialing",
            item.attempts + 1,
            now,
            None,
        )
        return item


def _dial(
    business_id: int,
    run_id: int,
    item: OutboundItem,
    business: Business,
    owner: str,
    twilio: TwilioRest,
    urls: CallUrls,
    record: bool,
) -> bool:
    """Place the claimed call unless the run stopped; False if it did."""
    with tenant_session(business_id) as session:
        if not _renew_lease(session, business_id, run_id, owner):
            session.execute(
                update(OutboundItem)
                .where(OutboundItem.business_id == business_id, OutboundItem.id == item.id)
                .values(status="cancelled", error="run stopped before this call was placed")
            )
            return False
        try:
            call = twilio.place_call(
                item.phone,
                business.phone_number,
                urls.twiml(business_id, run_id, item.id),
                status_callback=urls.status(business_id, run_id, item.id),
                record=record,
            )
        except PermanentIntegrationError as exc:
            session.execute(
                update(OutboundItem)
                .where(OutboundItem.business_id == business_id, OutboundItem.id == item.id)
                .values(status="failed", completed_at=utcnow(), error=str(exc)[:500])
            )
            return True
        except RetryableIntegrationError as exc:
            # Twilio refused for now (5xx, 429): not placed, so try this lead again later.
            session.execute(
                update(OutboundItem)
                .where(OutboundItem.business_id == business_id, OutboundItem.id == item.id)
                .values(status="pending", completed_at=utcnow(), error=str(exc)[:500])
            )
            return False
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.business_id == business_id, OutboundItem.id == item.id)
            .values(status="in_progress", call_sid=call.sid, updated_at=utcnow())
        )
    log.info("outbound.call_placed", business_id=business_id, run_id=run_id, item_id=item.id)
    return True


def _end_calls(business_id: int, run_id: int, twilio: TwilioRest) -> None:
    with tenant_session(business_id) as session:
        live = session.execute(
            select(OutboundItem.id, OutboundItem.call_sid).where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.status == "in_progress",
                OutboundItem.call_sid.is_not(None),
            )
        ).all()
    for item_id, call_sid in live:
        assert call_sid is not None  # selected with call_sid IS NOT NULL
        try:
            twilio.end_call(call_sid)
        except PermanentIntegrationError:
            pass  # the call already ended; its status callback settles the item
        apply_call_status(business_id, run_id, item_id, call_sid, "canceled")


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
    """End a running run with ``status`` and ``reason``, releasing its driver's lease."""
    session.execute(
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
    )


def drive_run(
    business_id: int,
    run_id: int,
    *,
    owner: str,
    twilio: TwilioRest,
    urls: CallUrls,
    budget_s: float = 50.0,
    poll_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run one tick; returns ``continue`` (enqueue the next tick) or why it stopped."""
    with tenant_session(business_id) as session:
        run = session.execute(
            select(OutboundRun).where(
                OutboundRun.business_id == business_id, OutboundRun.id == run_id
            )
        ).scalar_one_or_none()
        business = session.execute(select(Business).where(Business.id == business_id)).scalar_one()
    if run is None:
        return "missing"
    if run.status == "cancelled":
        _end_calls(business_id, run_id, twilio)
        return "cancelled"
    if run.status != "running" or not acquire_lease(business_id, run_id, owner):
        return "not-owner"
    _fail_interrupted_dials(business_id, run_id)
    _reconcile(business_id, run_id, twilio, older_than=timedelta(0))
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        with tenant_session(business_id) as session:
            run = session.execute(
                select(OutboundRun).where(
                    OutboundRun.business_id == business_id, OutboundRun.id == run_id
                )
            ).scalar_one()
            if run.status == "cancelled":
                break
            if not _renew_lease(session, business_id, run_id, owner):
                return "lost-lease"
        _reconcile(business_id, run_id, twilio, older_than=STALE_CALL)
        if _finish_if_done(business_id, run_id):
            log.info("outbound.run_completed", business_id=business_id, run_id=run_id)
            return "completed"
        placed = False
        if in_calling_window(run, business.timezone, utcnow()):
            item = _claim(business_id, run, business)
            if item is not None:
                placed = _dial(
                    business_id,
                    run_id,
                    item,
                    business,
                    owner,
                    twilio,
                    urls,
                    business.recording_enabled,
                )
        if not placed:
            sleep(poll_s)
    else:
        release_lease(business_id, run_id, owner)
        return "continue"
    _end_calls(business_id, run_id, twilio)
    return "cancelled"
