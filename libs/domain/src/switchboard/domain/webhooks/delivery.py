"""Outgoing webhooks for call events: one job per endpoint, one delivery-log row per attempt.

Queuing a delivery writes its first ``webhook_deliveries`` row (``pending``, attempt 0) with
the body to send, in the caller's transaction, and the job gets that row's id. Every attempt
sends the body and the event id (the ``X-Switchboard-Delivery`` idempotency key) of that row,
so a retry repeats the first attempt exactly. The first attempt fills the pending row in;
each later one adds a row of its own. A delivery whose endpoint has been deactivated since is
marked ``skipped`` and not sent.

An attempt is written, still ``pending`` with its number, before it is sent, and its answer
after. The receiver cannot be asked what it got, so delivery is at least once: an attempt
whose answer was never written (its worker died mid-request) is found ``pending`` by the next
one, logged ``failed`` as :data:`UNKNOWN_OUTCOME` (the endpoint may have it), and the event is
sent again under the same key.

Nothing about a call an erasure erased is sent, however late its delivery job (queued with
the event before the erasure, or retried): each attempt looks for the erasure of the call
the event names before it is written (:func:`_begin_attempt`), under the call's lock
(``erasures/erased_calls.py``), held to its commit. An erasure that comes after finds the
attempt's row and deletes it; one that came before is found, and the event's rows for the
endpoint (which name the call) go, unsent. A delivery the erasure has deleted is not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.webhooks_out import (
    DeliveryAttempt,
    WebhookDestinationRefused,
    WebhookSender,
)
from switchboard.common.jobs import FOREVER, ActorSpec, enqueue_unique
from switchboard.common.jobs.catalog import SEND_WEBHOOK_TO_N8N, SEND_WEBHOOK_WITH_RETRY
from switchboard.common.logging import get_logger
from switchboard.common.models import WebhookDelivery, WebhookEndpoint
from switchboard.domain.erasures.erased_calls import erased_call_locked
from switchboard.domain.webhooks.statuses import DeliveryStatus

log = get_logger(__name__)

JOB_FOR_KIND = {"n8n": SEND_WEBHOOK_TO_N8N, "generic": SEND_WEBHOOK_WITH_RETRY}
_ROW_STATUS: dict[str, DeliveryStatus] = {
    "delivered": "delivered",
    "retryable": "failed",
    "permanent": "rejected",
}
PENDING: DeliveryStatus = "pending"
#: The error of an attempt whose answer was never written: its worker stopped mid-request.
UNKNOWN_OUTCOME = (
    "outcome unknown: the worker stopped before this attempt's answer was written; "
    "the endpoint may have received it (sent again under the same X-Switchboard-Delivery key)"
)


def delivery_job(kind: str) -> ActorSpec:
    """The job that delivers to an endpoint of ``kind`` (an unknown kind is generic)."""
    return JOB_FOR_KIND.get(kind, SEND_WEBHOOK_WITH_RETRY)


def store_delivery(
    session: Session,
    endpoint: WebhookEndpoint,
    event_type: str,
    event_id: str,
    payload: Mapping[str, Any],
) -> WebhookDelivery:
    """In the caller's transaction, the pending delivery row holding the body to send (its
    job, :func:`delivery_job` of the endpoint's kind, is given the row's id)."""
    delivery = WebhookDelivery(
        business_id=endpoint.business_id,
        endpoint_id=endpoint.id,
        event_type=event_type,
        event_id=event_id,
        payload=dict(payload),
        status=PENDING,
        attempt=0,
    )
    session.add(delivery)
    session.flush()
    return delivery


def enqueue_event_webhooks(
    session: Session, business_id: int, event_type: str, event_id: str, payload: Mapping[str, Any]
) -> int:
    """In the caller's transaction, queue one delivery per subscribed active endpoint, once
    per event and endpoint; returns how many this call queued."""
    endpoints = session.execute(
        select(WebhookEndpoint).where(
            WebhookEndpoint.business_id == business_id, WebhookEndpoint.active.is_(True)
        )
    ).scalars()
    queued = 0
    for endpoint in endpoints:
        if endpoint.events and event_type not in endpoint.events:
            continue
        job = delivery_job(endpoint.kind)
        delivery = store_delivery(session, endpoint, event_type, event_id, payload)
        ref = enqueue_unique(
            job,
            key=f"{event_id}:{job.name}:{endpoint.id}",
            period=FOREVER,
            business_id=business_id,
            delivery_id=delivery.id,
        )
        if ref.created:
            queued += 1
        else:  # the event was queued before, with its own delivery row
            session.delete(delivery)
            session.flush()
    return queued


@dataclass(frozen=True)
class _Attempt:
    """What one attempt sends, where, and its number among the event's attempts."""

    url: str
    secret: str
    event_type: str
    event_id: str
    payload: dict[str, Any]
    number: int


def _next_attempt(business_id: int, delivery_id: int, kind: str) -> _Attempt | None:
    """The attempt to make, or None when there is nothing (more) to deliver."""
    with tenant_session(business_id) as session:
        delivery = owned_row(
            session, WebhookDelivery, business_id, delivery_id, what="webhook delivery"
        )
        endpoint = owned_row(session, WebhookEndpoint, business_id, delivery.endpoint_id)
        if endpoint.kind != kind and not (kind == "generic" and endpoint.kind not in JOB_FOR_KIND):
            raise NotFoundError(f"webhook endpoint {endpoint.id} is not a {kind} endpoint")
        of_event = (
            WebhookDelivery.business_id == business_id,
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.event_id == delivery.event_id,
        )
        # An attempt still pending was cut off before its answer was written.
        session.execute(
            update(WebhookDelivery)
            .where(*of_event, WebhookDelivery.status == PENDING, WebhookDelivery.attempt > 0)
            .values(status="failed", error=UNKNOWN_OUTCOME)
            .execution_options(synchronize_session=False)
        )
        if not endpoint.active:
            if delivery.status == PENDING and delivery.attempt == 0:
                delivery.status, delivery.error = "skipped", "endpoint inactive"
            return None
        delivered = session.execute(
            select(WebhookDelivery.id)
            .where(*of_event, WebhookDelivery.status == "delivered")
            .limit(1)
        ).first()
        if delivered is not None:
            return None
        last = session.execute(select(func.max(WebhookDelivery.attempt)).where(*of_event))
        return _Attempt(
            endpoint.url,
            endpoint.secret,
            delivery.event_type,
            delivery.event_id,
            dict(delivery.payload),
            int(last.scalar_one() or 0) + 1,
        )


def deliver_webhook(
    business_id: int, sender: WebhookSender, *, kind: str, delivery_id: int
) -> bool:
    """One signed attempt of a queued delivery, logged on the ``webhook_deliveries`` log.

    Returns True when delivered (or delivered before, or the endpoint is inactive, or the
    event's call was erased: nothing sent); raises a retryable error for a network failure,
    408, 429 or 5xx, and a permanent one for other answers, a refused (private) destination
    or another business's delivery.
    """
    attempt = _next_attempt(business_id, delivery_id, kind)
    if attempt is None:
        return True
    if not _begin_attempt(business_id, delivery_id, attempt.number):
        return True
    try:
        result = sender.send(
            attempt.url,
            attempt.payload,
            attempt.secret,
            event_type=attempt.event_type,
            event_id=attempt.event_id,
        )
    except WebhookDestinationRefused as exc:
        _log_attempt(business_id, delivery_id, attempt.number, None, str(exc))
        raise
    _log_attempt(business_id, delivery_id, attempt.number, result)
    log.info(
        "webhooks.attempt",
        business_id=business_id,
        delivery_id=delivery_id,
        attempt=attempt.number,
        outcome=result.outcome,
    )
    result.raise_for_outcome()
    return True


def _attempt_row(session: Session, business_id: int, delivery_id: int) -> WebhookDelivery:
    """The row the attempt under way is logged on: the queued row until its first attempt,
    then a new one for each attempt."""
    delivery = owned_row(session, WebhookDelivery, business_id, delivery_id, lock=True)
    if delivery.status == PENDING and delivery.attempt == 0:
        return delivery
    row = WebhookDelivery(
        business_id=business_id,
        endpoint_id=delivery.endpoint_id,
        event_type=delivery.event_type,
        event_id=delivery.event_id,
        payload=dict(delivery.payload),
        status=PENDING,
    )
    session.add(row)
    return row


def _of_erased_call(session: Session, delivery: WebhookDelivery) -> bool:
    """Whether the delivery's event is about a call an erasure erased, looked for under the
    call's lock, which the caller's transaction then holds."""
    call_sid = (delivery.payload or {}).get("call_sid")
    if not isinstance(call_sid, str) or not call_sid:
        return False
    return erased_call_locked(session, delivery.business_id, call_sid)


def _begin_attempt(business_id: int, delivery_id: int, number: int) -> bool:
    """Write the attempt, ``pending`` with its number, before it is sent. False, nothing
    written and nothing to send, when the event's call was erased: the event's rows for the
    endpoint, which name the call, go instead."""
    with tenant_session(business_id) as session:
        delivery = owned_row(
            session, WebhookDelivery, business_id, delivery_id, what="webhook delivery"
        )
        if not _of_erased_call(session, delivery):
            _attempt_row(session, business_id, delivery_id).attempt = number
            return True
        session.execute(
            delete(WebhookDelivery)
            .where(
                WebhookDelivery.business_id == business_id,
                WebhookDelivery.endpoint_id == delivery.endpoint_id,
                WebhookDelivery.event_id == delivery.event_id,
            )
            .execution_options(synchronize_session=False)
        )
    log.info("webhooks.erased_call_not_sent", business_id=business_id, delivery_id=delivery_id)
    return False


def _log_attempt(
    business_id: int,
    delivery_id: int,
    number: int,
    result: DeliveryAttempt | None,
    refused: str | None = None,
) -> None:
    status: DeliveryStatus = "refused" if result is None else _ROW_STATUS[result.outcome]
    with tenant_session(business_id) as session:
        delivery = owned_row(session, WebhookDelivery, business_id, delivery_id, lock=True)
        row = session.execute(
            select(WebhookDelivery).where(
                WebhookDelivery.business_id == business_id,
                WebhookDelivery.endpoint_id == delivery.endpoint_id,
                WebhookDelivery.event_id == delivery.event_id,
                WebhookDelivery.attempt == number,
                WebhookDelivery.status == PENDING,
            )
        ).scalar_one_or_none() or _attempt_row(session, business_id, delivery_id)
        row.status, row.attempt = status, number
        row.response_status = None if result is None else result.status_code
        row.error = refused or (result.error if result else None) or None
        row.delivered_at = utcnow() if status == "delivered" else None
