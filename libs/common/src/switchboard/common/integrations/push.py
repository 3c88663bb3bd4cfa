"""Web Push with VAPID: notifications to the dashboard's browsers.

The real adapter uses ``pywebpush`` (aes128gcm payload encryption, VAPID-signed JWT). A push
service answering 404 or 410 means the browser unsubscribed: ``SubscriptionGone`` tells the
actor to delete the subscription.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from switchboard.common.integrations import config
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

if TYPE_CHECKING:
    from pywebpush import WebPushException

    from switchboard.common.integrations.vapid import VapidKeys

log = get_logger(__name__)

#: Push services accept about 4 KB of encrypted payload; stay clearly below.
MAX_PAYLOAD_BYTES = 3800


class PushRetryableError(RetryableIntegrationError):
    """The push service was unreachable, overloaded (5xx) or rate limited us (429)."""


class PushPermanentError(PermanentIntegrationError):
    """The push service refused the message (bad VAPID token, payload too large …)."""


class SubscriptionGone(PushPermanentError):  # noqa: N818 - reads as the push service's answer
    """The subscription no longer exists (404/410): delete it."""


@dataclass(frozen=True)
class PushSubscriptionInfo:
    """A browser's ``PushSubscription``: its endpoint and the keys to encrypt for it."""

    endpoint: str
    p256dh: str
    auth: str

    def as_webpush_dict(self) -> dict[str, Any]:
        """The ``subscription_info`` shape that ``pywebpush`` and browsers use."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def encode_payload(payload: Mapping[str, Any]) -> str:
    """The JSON text sent to the browser; refuses payloads a push service would reject."""
    data = json.dumps(payload, separators=(",", ":"), default=str)
    if len(data.encode()) > MAX_PAYLOAD_BYTES:
        raise PushPermanentError(f"push payload is {len(data.encode())} bytes, over the limit")
    return data


class PushSender(ABC):
    """The port: deliver one notification to one browser subscription."""

    @abstractmethod
    def send(
        self, subscription: PushSubscriptionInfo, payload: Mapping[str, Any], *, ttl: int = 3600
    ) -> int:
        """Send ``payload`` as JSON; returns the push service's status (201 normally)."""


class WebPushSender(PushSender):
    """The real adapter, through ``pywebpush.webpush``.

    Its libraries (``pywebpush``, ``py_vapid``, ``requests``, ``cryptography``) are imported
    when the first sender is built: a tenth of a second of every worker's start otherwise.
    """

    def __init__(self, keys: VapidKeys, *, timeout: float = 10.0) -> None:
        import requests
        from py_vapid import Vapid02

        self._keys = keys
        self._vapid = Vapid02(private_key=keys.private_key)
        self._timeout = timeout
        self._session = requests.Session()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebPushSender:
        """Build the adapter from the process settings."""
        from switchboard.common.integrations.vapid import load_vapid_keys

        return cls(load_vapid_keys(settings), timeout=config.integration_timeout_s(settings))

    def send(
        self, subscription: PushSubscriptionInfo, payload: Mapping[str, Any], *, ttl: int = 3600
    ) -> int:
        """Encrypt and POST; maps 404/410 to ``SubscriptionGone``."""
        import requests
        from py_vapid import VapidException
        from pywebpush import WebPushException, webpush

        data = encode_payload(payload)
        try:
            response = webpush(
                subscription.as_webpush_dict(),
                data,
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._keys.subject},  # pywebpush adds aud and exp
                ttl=ttl,
                timeout=self._timeout,
                requests_session=self._session,
            )
        except WebPushException as exc:
            raise _push_error(exc) from exc
        except VapidException as exc:  # e.g. a subject that is not a mailto: or https: URL
            raise PushPermanentError(f"VAPID signing failed: {exc}") from exc
        except requests.RequestException as exc:
            raise PushRetryableError(f"push service unreachable: {redact(str(exc))}") from exc
        status = int(response.status_code)
        log.info("push.sent", status=status)
        return status


def _push_error(exc: WebPushException) -> PushPermanentError | PushRetryableError:
    status = getattr(exc.response, "status_code", None)
    log.warning("push.failed", status=status)
    if status in (404, 410):
        return SubscriptionGone(f"push subscription gone (HTTP {status})", status=status)
    if status is not None and (status == 429 or status >= 500):
        return PushRetryableError(f"push service answered HTTP {status}", status=status)
    return PushPermanentError(f"push refused: {redact(exc.message)}", status=status)


@dataclass
class FakePushSender(PushSender):
    """In-memory push for unit tests: records what was sent; some endpoints can be gone."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone_endpoints: set[str] = field(default_factory=set)

    def send(
        self, subscription: PushSubscriptionInfo, payload: Mapping[str, Any], *, ttl: int = 3600
    ) -> int:
        """Record the payload, or raise ``SubscriptionGone`` for a gone endpoint."""
        if subscription.endpoint in self.gone_endpoints:
            raise SubscriptionGone("push subscription gone (HTTP 410)", status=410)
        self.sent.append((subscription.endpoint, json.loads(encode_payload(payload))))
        return 201
