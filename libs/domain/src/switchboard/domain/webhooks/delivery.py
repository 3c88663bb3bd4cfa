"""Outgoing webhooks for call events: one job per endpoint, one delivery-log row per attempt."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
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

log = get_logger(__name__)

JOB_FOR_KIND = {"n8n": SEND_WEBHOOK_TO_N8N, "generic": SEND_WEBHOOK_WITH_RETRY}
_ROW_STATUS = {"delivered": "delivered", "retryable": "failed", "permanent": "rejected"}


def delivery_job(kind: str) -> ActorSpec:
    """The job that delivers to an endpoint of ``kind`` (an unknown kind is generic)."""
    return JOB_FOR_KIND.get(kind, SEND_WEBHOOK_WITH_RETRY)


def enqueue_event_webhooks(
    session: Session, business_id: int, event_type: str, event_id: str, payload: Mapping[str, Any]
) -> int:
    """In the caller's transaction, queue one delivery job per subscribed active endpoint."""
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
        enqueue_unique(
            job,
            key=f"{event_id}:{job.name}:{endpoint.id}",
            period=FOREVER,
            business_id=business_id,
            endpoint_id=endpoint.id,
            event_type=event_type,
            event_id=event_id,
            payload=dict(payload),
        )
        queued += 1
    return queued


def _target(
    business_id: int, endpoint_id: int, kind: str, event_id: str
) -> tuple[str, str, int] | None:
    """(url, secret, attempt number), or None when there is nothing (more) to deliver."""
    with tenant_session(business_id) as session:
        endpoint = owned_row(session, WebhookEndpoint, business_id, endpoint_id)
        if endpoint.kind != kind and not (kind == "generic" and endpoint.kind not in JOB_FOR_KIND):
            raise NotFoundError(f"webhook endpoint {endpoint_id} is not a {kind} endpoint")
        if not endpoint.active:
            return None
        of_event = (
            WebhookDelivery.business_id == business_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_id == event_id,
        )
        delivered = session.execute(
            select(WebhookDelivery.id)
            .where(*of_event, WebhookDelivery.status == "delivered")
            .limit(1)
        ).first()
        if delivered is not None:
            return None
        attempts = session.execute(select(func.count()).where(*of_event)).scalar_one()
        return endpoint.url, endpoint.secret, int(attempts) + 1


def deliver_webhook(
    business_id: int,
    sender: WebhookSender,
    *,
    kind: str,
    endpoint_id: int,
    event_type: str,
    event_id: str,
    payload: Mapping[str, Any],
) -> bool:
    """One signed delivery attempt, logged as a ``webhook_deliveries`` row.

    Returns True when delivered (or delivered before); raises a retryable error for a
    network failure, 408, 429 or 5xx, and a permanent one for other answers or a refused
    (private) destination.
    """
    target = _target(business_id, endpoint_id, kind, event_id)
    if target is None:
        return True
    url, secret, attempt_no = target
    try:
        attempt = sender.send(url, payload, secret, event_type=event_type, event_id=event_id)
    except WebhookDestinationRefused as exc:
        _log_attempt(
            business_id, endpoint_id, event_type, event_id, payload, attempt_no, None, str(exc)
        )
        raise
    _log_attempt(business_id, endpoint_id, event_type, event_id, payload, attempt_no, attempt)
    log.info(
        "webhooks.attempt",
        business_id=business_id,
        endpoint_id=endpoint_id,
        attempt=attempt_no,
        outcome=attempt.outcome,
    )
    attempt.raise_for_outcome()
    return True


def _log_attempt(
    business_id: int,
    endpoint_id: int,
    event_type: str,
    event_id: str,
    payload: Mapping[str, Any],
    attempt_no: int,
    attempt: DeliveryAttempt | None,
    refused: str | None = None,
) -> None:
    status = "refused" if attempt is None else _ROW_STATUS[attempt.outcome]
    with tenant_session(business_id) as session:
        session.add(
            WebhookDelivery(
                business_id=business_id,
                endpoint_id=endpoint_id,
                event_type=event_type,
                event_id=event_id,
                payload=dict(payload),
                status=status,
                attempt=attempt_no,
                response_status=None if attempt is None else attempt.status_code,
                error=(refused or (attempt.error if attempt else None) or None),
                delivered_at=utcnow() if status == "delivered" else None,
            )
        )
