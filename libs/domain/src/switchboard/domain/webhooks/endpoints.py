"""A business's outgoing webhook endpoints, their delivery log, and test deliveries.

A test delivery is a ``webhook.test`` event queued for one endpoint exactly as call events
are (see :mod:`switchboard.domain.webhooks.delivery`): a pending ``webhook_deliveries`` row
holding the body, and the endpoint kind's job (``send_webhook_with_retry_job`` or
``send_webhook_to_n8n_job``) with its ``delivery_id``. The worker signs and sends it (never
to private addresses unless allow-listed) and logs each attempt on the delivery log.

An endpoint's URL passes the outbound-address policy when it is registered or changed (a
``RefusedAddressError`` naming ``url``), and again at every connection.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, select

from switchboard.common.db.base import utcnow
from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.address_policy import WEBHOOK_SCHEMES, AddressPolicy
from switchboard.common.jobs import enqueue
from switchboard.common.models import WebhookDelivery, WebhookEndpoint
from switchboard.domain.webhooks.delivery import delivery_job, store_delivery
from switchboard.domain.webhooks.events import WebhookEvent

TEST_EVENT = "webhook.test"
#: Times in a test delivery's body are written as the call events' (pydantic's JSON: UTC, ``Z``).
_EVENT_TIME = TypeAdapter(datetime)


@dataclass(frozen=True)
class QueuedTest:
    """The test event and the job that will deliver it."""

    event_id: str
    event_type: str
    actor_name: str
    job_id: str


def new_secret() -> str:
    """A fresh signing secret for an endpoint (shown to its owner once)."""
    return "whsec_" + secrets.token_urlsafe(32)


def create_endpoint(
    business_id: int,
    url: str,
    kind: str,
    events: list[WebhookEvent] | None,
    active: bool,
    *,
    policy: AddressPolicy,
) -> WebhookEndpoint:
    """Register an endpoint with a new signing secret, if ``policy`` admits its URL."""
    policy.require_registrable(url, field="url", schemes=WEBHOOK_SCHEMES)
    with tenant_session(business_id) as session:
        endpoint = WebhookEndpoint(
            business_id=business_id,
            url=url,
            kind=kind,
            events=events,
            active=active,
            secret=new_secret(),
        )
        session.add(endpoint)
        session.flush()
        return endpoint


def list_endpoints(
    business_id: int, *, limit: int = 50, after: int | None = None
) -> Page[WebhookEndpoint]:
    """This business's endpoints, newest first."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.business_id == business_id)
    with tenant_session(business_id) as session:
        return fetch_page(session, query, WebhookEndpoint.id, limit=limit, after=after)


def get_endpoint(business_id: int, endpoint_id: int) -> WebhookEndpoint:
    """One endpoint of this business."""
    with tenant_session(business_id) as session:
        return owned_row(
            session, WebhookEndpoint, business_id, endpoint_id, what="webhook endpoint"
        )


def update_endpoint(
    business_id: int,
    endpoint_id: int,
    changes: Mapping[str, Any],
    *,
    policy: AddressPolicy,
    rotate_secret: bool = False,
) -> WebhookEndpoint:
    """Change an endpoint's URL (if ``policy`` admits it), kind, events or active flag;
    optionally issue a new secret."""
    if "url" in changes:
        policy.require_registrable(str(changes["url"]), field="url", schemes=WEBHOOK_SCHEMES)
    with tenant_session(business_id) as session:
        endpoint = owned_row(
            session, WebhookEndpoint, business_id, endpoint_id, what="webhook endpoint"
        )
        for name, value in changes.items():
            setattr(endpoint, name, value)
        if rotate_secret:
            endpoint.secret = new_secret()
        session.flush()
        return endpoint


def delete_endpoint(business_id: int, endpoint_id: int) -> None:
    """Delete an endpoint and its delivery log."""
    with tenant_session(business_id) as session:
        owned_row(session, WebhookEndpoint, business_id, endpoint_id, what="webhook endpoint")
        session.execute(
            delete(WebhookEndpoint).where(
                WebhookEndpoint.business_id == business_id, WebhookEndpoint.id == endpoint_id
            )
        )


def list_deliveries(
    business_id: int,
    endpoint_id: int,
    *,
    status: str | None = None,
    limit: int = 50,
    after: int | None = None,
) -> Page[WebhookDelivery]:
    """One endpoint's deliveries, newest first."""
    with tenant_session(business_id) as session:
        owned_row(session, WebhookEndpoint, business_id, endpoint_id, what="webhook endpoint")
        query = select(WebhookDelivery).where(
            WebhookDelivery.business_id == business_id, WebhookDelivery.endpoint_id == endpoint_id
        )
        if status:
            query = query.where(WebhookDelivery.status == status)
        return fetch_page(session, query, WebhookDelivery.id, limit=limit, after=after)


def send_test(business_id: int, endpoint_id: int) -> QueuedTest:
    """Queue a ``webhook.test`` delivery to the endpoint (an inactive one is skipped)."""
    with tenant_session(business_id) as session:
        endpoint = owned_row(
            session, WebhookEndpoint, business_id, endpoint_id, what="webhook endpoint"
        )
        event_id = str(uuid.uuid4())
        payload = {
            "type": TEST_EVENT,
            "id": event_id,
            "business_id": business_id,
            "created_at": _EVENT_TIME.dump_python(utcnow(), mode="json"),
            "data": {"message": "This is a test delivery from Switchboard."},
        }
        delivery = store_delivery(session, endpoint, TEST_EVENT, event_id, payload)
        spec = delivery_job(endpoint.kind)
        job = enqueue(spec, business_id=business_id, delivery_id=delivery.id)
        return QueuedTest(event_id, TEST_EVENT, spec.name, job.job_id)
