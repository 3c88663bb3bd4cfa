"""Outgoing webhook jobs: n8n and generic endpoints, signed, logged per attempt, retried.

Each job names a stored delivery (``delivery_id``); its body and idempotency key are read
from that row, so every retry sends the same ones.
"""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import SEND_WEBHOOK_TO_N8N, SEND_WEBHOOK_WITH_RETRY
from switchboard.common.models import WebhookDelivery
from switchboard.domain.webhooks.delivery import deliver_webhook
from switchboard.worker.actors._erased import unless_erased


@job_actor(SEND_WEBHOOK_TO_N8N)
@unless_erased(delivery_id=WebhookDelivery)
def send_webhook_to_n8n_job(*, business_id: int, delivery_id: int) -> None:
    """Deliver one stored event to the business's n8n endpoint."""
    deliver_webhook(business_id, adapters().webhooks, kind="n8n", delivery_id=delivery_id)


@job_actor(SEND_WEBHOOK_WITH_RETRY)
@unless_erased(delivery_id=WebhookDelivery)
def send_webhook_with_retry_job(*, business_id: int, delivery_id: int) -> None:
    """Deliver one stored event to a generic endpoint."""
    deliver_webhook(business_id, adapters().webhooks, kind="generic", delivery_id=delivery_id)
