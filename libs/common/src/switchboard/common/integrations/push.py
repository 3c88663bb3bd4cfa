"""Web Push with VAPID: notifications to the dashboard's browsers.

The real adapter uses ``pywebpush`` (aes128gcm payload encryption, VAPID-signed JWT). A push
service answering 404 or 410 means the browser unsubscribed: ``SubscriptionGone`` tells the
actor to delete the subscription.
"""

from __future__ import annotations

import base64
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, VapidException

from switchboard.common.integrations import config
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

if TYPE_CHECKING:
    from pywebpush import WebPushException

log = get_logger(__name__)

#: Push services accept about 4 KB of encrypted payload; stay clearly below.
MAX_PAYLOAD_BYTES = 3800
DEV_KEY_FILENAME = "vapid_private_key.pem"


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


@dataclass(frozen=True)
class VapidKeys:
    """The application server's VAPID identity."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    subject: str

    @property
    def public_key(self) -> str:
        """The base64url ``applicationServerKey`` browsers subscribe with."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def private_key_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def generate_vapid_keys(subject: str = config.DEFAULT_VAPID_SUBJECT) -> VapidKeys:
    """A fresh P-256 key pair."""
    return VapidKeys(ec.generate_private_key(ec.SECP256R1()), subject)


def parse_vapid_private_key(text: str, subject: str) -> VapidKeys:
    """Keys from a PEM, or from base64url DER or raw 32-byte scalar (``vapid`` CLI formats)."""
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a VAPID private key must be a P-256 (prime256v1) EC key")
    return VapidKeys(key, subject)


def load_vapid_keys(settings: Settings) -> VapidKeys:
    """The configured VAPID keys; outside production, a dev pair kept under ``var_dir``.

    The dev key is generated once and reused, so browsers stay subscribed across restarts.
    """
    subject = config.vapid_subject(settings)
    configured = config.vapid_private_key(settings)
    if configured:
        return parse_vapid_private_key(configured, subject)
    if settings.environment == "production":
        raise ValueError("VAPID_PRIVATE_KEY must be set in production")
    path = Path(settings.var_dir) / DEV_KEY_FILENAME
    if path.exists():
        return parse_vapid_private_key(path.read_text(), subject)
    keys = generate_vapid_keys(subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keys.private_key_pem())
    log.info("push.vapid_dev_key_created", path=str(path), public_key=keys.public_key)
    return keys


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
    """The real adapter, through ``pywebpush.webpush``."""

    def __init__(self, keys: VapidKeys, *, timeout: float = 10.0) -> None:
        self._keys = keys
        self._vapid = Vapid02(private_key=keys.private_key)
        self._timeout = timeout
        self._session = requests.Session()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebPushSender:
        """Build the adapter from the process settings."""
        return cls(load_vapid_keys(settings), timeout=config.integration_timeout_s(settings))

    def send(
        self, subscription: PushSubscriptionInfo, payload: Mapping[str, Any], *, ttl: int = 3600
    ) -> int:
        """Encrypt and POST; maps 404/410 to ``SubscriptionGone``."""
        # imported here: pywebpush brings aiohttp, a fifth of a second of every worker's start
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
