"""Outgoing webhooks (n8n and generic): HMAC-signed JSON POSTs that never reach private networks.

Signature header: ``X-Switchboard-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
Every connection passes the outbound-address policy (:mod:`.address_policy`): the host is
resolved once, refused if any answer is forbidden, and the connection goes to the checked
address with the original ``Host`` and TLS server name. Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from switchboard.common.integrations import config
from switchboard.common.integrations.address_policy import (
    WEBHOOK_SCHEMES,
    AddressPolicy,
    DestinationRefused,
    pinned_client,
    post_reading_at_most,
)
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Switchboard-Signature"
EVENT_HEADER = "X-Switchboard-Event"
DELIVERY_HEADER = "X-Switchboard-Delivery"
EXCERPT_CHARS = 200
#: The most of an answer that is read: enough for ``EXCERPT_CHARS`` of UTF-8.
EXCERPT_BYTES = 4 * EXCERPT_CHARS
Outcome = Literal["delivered", "retryable", "permanent"]


class WebhookRetryableError(RetryableIntegrationError):
    """The receiver was unreachable, timed out, or answered 408, 429 or 5xx."""


class WebhookPermanentError(PermanentIntegrationError):
    """The receiver rejected the delivery (other 4xx, redirects): retrying cannot help."""


class WebhookDestinationRefused(WebhookPermanentError, DestinationRefused):
    """The URL points at a private, loopback or otherwise non-public address."""


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign_payload(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class DeliveryAttempt:
    """One delivery attempt, as the delivery log records it."""

    status_code: int | None
    response_excerpt: str
    duration_ms: int
    error: str | None = None

    @property
    def outcome(self) -> Outcome:
        """Delivered (2xx), retryable (network, 408, 429, 5xx) or permanent (anything else)."""
        code = self.status_code
        if code is None or code in (408, 429) or code >= 500:
            return "retryable"
        return "delivered" if 200 <= code < 300 else "permanent"

    def raise_for_outcome(self) -> None:
        """Raise the matching error unless the webhook was delivered."""
        what = self.error or f"HTTP {self.status_code}"
        if self.outcome == "retryable":
            raise WebhookRetryableError(f"webhook failed: {what}", status=self.status_code)
        if self.outcome == "permanent":
            raise WebhookPermanentError(f"webhook rejected: {what}", status=self.status_code)


class WebhookSender(ABC):
    """The port: POST one signed JSON event to one receiver."""

    @abstractmethod
    def send(
        self,
        url: str,
        payload: Mapping[str, Any],
        secret: str,
        *,
        event_type: str = "",
        event_id: str = "",
    ) -> DeliveryAttempt:
        """Deliver once; the attempt says how it went (``raise_for_outcome`` to fail a job)."""


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


class HttpWebhookSender(WebhookSender):
    """The real adapter, through httpx; redirects are not followed (they could lead inside)."""

    def __init__(self, policy: AddressPolicy, *, timeout: float = 10.0) -> None:
        self._policy = policy
        self._client = pinned_client(policy, timeout=timeout, follow_redirects=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpWebhookSender:
        """Build the adapter from the process settings."""
        policy = AddressPolicy.from_settings(settings)
        return cls(policy, timeout=config.webhook_timeout_s(settings))

    def send(
        self,
        url: str,
        payload: Mapping[str, Any],
        secret: str,
        *,
        event_type: str = "",
        event_id: str = "",
    ) -> DeliveryAttempt:
        """Sign and POST; raises ``WebhookDestinationRefused`` for a forbidden address."""
        try:
            target = self._policy.checked_url(url, schemes=WEBHOOK_SCHEMES)
        except DestinationRefused as exc:
            raise WebhookDestinationRefused(f"webhook refused: {exc}") from exc
        started = time.monotonic()
        body = encode_body(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Switchboard-Webhooks/1",
            SIGNATURE_HEADER: sign_payload(secret, body, int(time.time())),
            EVENT_HEADER: event_type,
            DELIVERY_HEADER: event_id,
        }
        try:
            answer = post_reading_at_most(
                self._client, target, EXCERPT_BYTES, content=body, headers=headers
            )
        except DestinationRefused as exc:
            raise WebhookDestinationRefused(f"webhook refused: {exc}") from exc
        except httpx.HTTPError as exc:
            return self._failed(started, f"{type(exc).__name__}: {redact(str(exc))}")
        attempt = DeliveryAttempt(
            status_code=answer.status_code,
            response_excerpt=redact(answer.text[:EXCERPT_CHARS]),
            duration_ms=_elapsed_ms(started),
        )
        log.info(
            "webhook.attempt", host=target.host, status=attempt.status_code, event_type=event_type
        )
        return attempt

    def _failed(self, started: float, error: str) -> DeliveryAttempt:
        log.warning("webhook.unreachable", error=error)
        return DeliveryAttempt(None, "", _elapsed_ms(started), error=error)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@dataclass
class FakeWebhookSender(WebhookSender):
    """In-memory webhooks for unit tests: records deliveries, answers scripted statuses."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    refused_hosts: set[str] = field(default_factory=set)

    def send(
        self,
        url: str,
        payload: Mapping[str, Any],
        secret: str,
        *,
        event_type: str = "",
        event_id: str = "",
    ) -> DeliveryAttempt:
        """Record the delivery; answer the next scripted status (200 when none is left)."""
        host = httpx.URL(url).host
        if host in self.refused_hosts:
            raise WebhookDestinationRefused(f"webhook refused: {host} is not public")
        self.deliveries.append(
            {"url": url, "payload": dict(payload), "event_type": event_type, "event_id": event_id}
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return DeliveryAttempt(status, "ok" if status < 300 else "error", 0)
