"""Outgoing webhook jobs: n8n and generic endpoints, signed, logged per attempt, retried."""

from __future__ import annotations

from typing import Any

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import SEND_WEBHOOK_TO_N8N, SEND_WEBHOOK_WITH_RETRY
from switchboard.domain.webhooks.delivery import deliver_webhook


@job_actor(SEND_WEBHOOK_TO_N8N)
def send_webhook_to_n8n_job(
    *, business_id: int, endpoint_id: int, event_type: str, event_id: str, payload: dict[str, Any]
) -> None:
    """Deliver one event to the business's n8n endpoint."""
    deliver_webhook(
        business_id,
        adapters().webhooks,
        kind="n8n",
        endpoint_id=endpoint_id,
        event_type=event_type,
        event_id=event_id,
        payload=payload,
    )


@job_actor(SEND_WEBHOOK_WITH_RETRY)
def send_webhook_with_retry_job(
    *, business_id: int, endpoint_id: int, event_type: str, event_id: str, payload: dict[str, Any]
) -> None:
    """Deliver one event to a generic endpoint."""
    deliver_webhook(
        business_id,
        adapters().webhooks,
        kind="generic",
        endpoint_id=endpoint_id,
        event_type=event_type,
        event_id=event_id,
        payload=payload,
    )
