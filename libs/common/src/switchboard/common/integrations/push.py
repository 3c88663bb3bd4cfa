"""Web Push with VAPID: notifications to the dashboard's browsers.

The real adapter encrypts with ``pywebpush`` (aes128gcm) and signs the VAPID JWT with
``py_vapid``; the POST goes through a client pinned by the outbound-address policy
(:mod:`.address_policy`), since a subscription's endpoint is an address a tenant chose. A push
service answering 404 or 410 means the browser unsubscribed: ``SubscriptionGone`` tells the
actor to delete the subscription.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from switchboard.common.integrations import config
from switchboard.common.integrations.address_policy import (
    PUSH_SCHEMES,
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

if TYPE_CHECKING:
    from switchboard.common.integrations.vapid import VapidKeys

log = get_logger(__name__)

#: Push services accept about 4 KB of encrypted payload; stay clearly below.
MAX_PAYLOAD_BYTES = 3800
#: What push services answer a push whose VAPID token they refuse (FCM 400/403, Mozilla 401,
#: Apple 400/403 ``BadJwtToken``): our configuration, not the subscription, is at fault.
VAPID_REFUSALS = frozenset({400, 401, 403})
#: The most of a push service's answer that is read (its error text is logged, cut shorter).
ANSWER_BYTES = 800


class PushRetryableError(RetryableIntegrationError):
    """The push service was unreachable, overloaded (5xx) or rate limited us (429).

    ``retry_after``: the seconds its ``Retry-After`` asked us to wait (None when it said
    nothing): the job is retried no sooner, rather than after its usual back-off.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PushPermanentError(PermanentIntegrationError):
    """The push service refused the message (bad VAPID token, payload too large …)."""


class SubscriptionGone(PushPermanentError):  # noqa: N818 - reads as the push service's answer
    """The subscription no longer exists (404/410): delete it."""


class PushDestinationRefused(PushPermanentError, DestinationRefused):
    """The subscription's endpoint is, or resolves to, an address the policy forbids."""


@dataclass(frozen=True)
class PushSubscriptionInfo:
    """A browser's ``PushSubscription``: its endpoint and the keys to encrypt for it."""

    endpoint: str
    p256dh: str
    auth: str

    def as_webpush_dict(self) -> dict[str, Any]:
        """The ``subscription_info`` shape that ``pywebpush`` and browsers use."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def _json(payload: Mapping[str, Any]) -> str:
    # UTF-8 as is (not \uXXXX escapes): an emoji costs 4 bytes of the limit, not 12.
    return json.dumps(payload, separators=(",", ":"), default=str, ensure_ascii=False)


def encode_payload(payload: Mapping[str, Any]) -> str:
    """The JSON text sent to the browser; refuses payloads a push service would reject."""
    data = _json(payload)
    if len(data.encode()) > MAX_PAYLOAD_BYTES:
        raise PushPermanentError(f"push payload is {len(data.encode())} bytes, over the limit")
    return data


def fit_text(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``payload`` with its ``key`` text cut short (ending in "…") so that the whole fits
    :data:`MAX_PAYLOAD_BYTES`: a long text is shown shortened rather than not pushed."""
    fitted, text = dict(payload), str(payload[key])

    def fits(chars: int) -> bool:
        fitted[key] = text if chars == len(text) else text[:chars].rstrip() + "…"
        return len(_json(fitted).encode()) <= MAX_PAYLOAD_BYTES

    if fits(len(text)):
        return fitted
    shortest, longest = 0, len(text) - 1  # the most characters that fit, by bisection
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        shortest, longest = (middle, longest) if fits(middle) else (shortest, middle - 1)
    fits(shortest)
    return fitted


class PushSender(ABC):
    """The port: deliver one notification to one browser subscription."""

    @abstractmethod
    def send(
        self,
        subscription: PushSubscriptionInfo,
        payload: Mapping[str, Any],
        *,
        ttl: int = 3600,
        topic: str | None = None,
    ) -> int:
        """Send ``payload`` as JSON; returns the push service's status (201 normally).

        ``topic`` (RFC 8030's ``Topic``: at most 32 characters of the base64url alphabet): a
        push with the topic of one the service still holds undelivered replaces it, so a
        notification sent twice reaches a browser that was away once."""


class WebPushSender(PushSender):
    """The real adapter: ``pywebpush`` encrypts, ``py_vapid`` signs, a pinned httpx client sends.

    ``pywebpush`` and ``py_vapid`` are imported when the first sender is built: a tenth of a
    second of every worker's start otherwise. Without a policy, only public addresses.
    """

    def __init__(
        self, keys: VapidKeys, *, policy: AddressPolicy | None = None, timeout: float = 10.0
    ) -> None:
        from py_vapid import Vapid02

        self._keys = keys
        self._vapid = Vapid02(private_key=keys.private_key)
        self._policy = policy or AddressPolicy()
        self._client = pinned_client(self._policy, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebPushSender:
        """Build the adapter from the process settings."""
        from switchboard.common.integrations.vapid import load_vapid_keys

        return cls(
            load_vapid_keys(settings),
            policy=AddressPolicy.from_settings(settings),
            timeout=config.integration_timeout_s(settings),
        )

    def send(
        self,
        subscription: PushSubscriptionInfo,
        payload: Mapping[str, Any],
        *,
        ttl: int = 3600,
        topic: str | None = None,
    ) -> int:
        """Encrypt, sign and POST; maps 404/410 to ``SubscriptionGone``."""
        try:
            self._policy.checked_url(subscription.endpoint, schemes=PUSH_SCHEMES)
        except DestinationRefused as exc:
            raise PushDestinationRefused(f"push refused: {exc}") from exc
        headers = self._signed_headers(subscription.endpoint)
        headers.update({"Content-Encoding": "aes128gcm", "TTL": str(ttl)})
        if topic:
            headers["Topic"] = topic
        body = _encrypt(subscription, encode_payload(payload))
        try:
            answer = post_reading_at_most(
                self._client, subscription.endpoint, ANSWER_BYTES, content=body, headers=headers
            )
        except DestinationRefused as exc:
            raise PushDestinationRefused(f"push refused: {exc}") from exc
        except httpx.HTTPError as exc:
            raise PushRetryableError(f"push service unreachable: {redact(str(exc))}") from exc
        status = answer.status_code
        if status > 202:
            raise _push_error(status, answer.text, answer.headers.get("Retry-After"))
        log.info("push.sent", status=status)
        return status

    def _signed_headers(self, endpoint: str) -> dict[str, str]:
        """The VAPID ``Authorization`` header, its audience the endpoint's origin."""
        from py_vapid import VapidException

        url = urlparse(endpoint)
        claims = {
            "sub": self._keys.subject,
            "aud": f"{url.scheme}://{url.netloc}",
            "exp": int(time.time()) + 12 * 3600,
        }
        try:
            return dict(self._vapid.sign(claims))
        except VapidException as exc:  # e.g. a subject that is not a mailto: or https: URL
            raise PushPermanentError(f"VAPID signing failed: {exc}") from exc


def _encrypt(subscription: PushSubscriptionInfo, data: str) -> bytes:
    """The aes128gcm body for the subscription's keys (RFC 8291)."""
    from pywebpush import WebPusher, WebPushException

    try:
        pusher = WebPusher(subscription.as_webpush_dict())
        return bytes(pusher.encode(data.encode(), "aes128gcm")["body"])
    except (WebPushException, ValueError) as exc:
        raise PushPermanentError(f"push refused: bad subscription keys ({exc})") from exc


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header's wait in seconds: delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _push_error(
    status: int, answer: str, retry_after: str | None = None
) -> PushPermanentError | PushRetryableError:
    if status in VAPID_REFUSALS:
        log.error(
            "push.vapid_refused",
            status=status,
            reason=redact(answer[:200]),
            hint="check VAPID_PRIVATE_KEY and VAPID_SUBJECT; the push is not retried",
        )
    else:
        log.warning("push.failed", status=status)
    if status in (404, 410):
        return SubscriptionGone(f"push subscription gone (HTTP {status})", status=status)
    if status == 429 or status >= 500:
        return PushRetryableError(
            f"push service answered HTTP {status}",
            status=status,
            retry_after=retry_after_seconds(retry_after),
        )
    return PushPermanentError(f"push refused: HTTP {status} {redact(answer[:200])}", status=status)


@dataclass
class FakePushSender(PushSender):
    """In-memory push for unit tests: records what was sent; some endpoints can be gone."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone_endpoints: set[str] = field(default_factory=set)

    def send(
        self,
        subscription: PushSubscriptionInfo,
        payload: Mapping[str, Any],
        *,
        ttl: int = 3600,
        topic: str | None = None,
    ) -> int:
        """Record the payload, or raise ``SubscriptionGone`` for a gone endpoint."""
        if subscription.endpoint in self.gone_endpoints:
            raise SubscriptionGone("push subscription gone (HTTP 410)", status=410)
        self.sent.append((subscription.endpoint, json.loads(encode_payload(payload))))
        return 201
