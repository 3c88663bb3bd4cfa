"""A fake Web Push service (RFC 8030/8291/8292) that ``pywebpush`` can deliver to.

``subscribe()`` plays the browser: it makes a P-256 key pair and an auth secret and returns the
subscription a browser would hand over. A push is accepted (201) only with a valid
``Authorization: vapid t=<JWT>,k=<key>`` (ES256 signature checked, ``aud`` = this origin,
``exp`` within 24 h, ``sub`` a mailto:/https: contact) and an ``aes128gcm`` body, which is
decrypted with the subscription's private key so tests can read the payload. Endpoints marked
gone answer 404 or 410.

Use the ``fake_push_service`` fixture.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer, HeldAnswers, json_response


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    """Encode as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class BrowserSubscription:
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    def as_subscription_info(self) -> dict[str, Any]:
        """What ``PushManager.subscribe()`` gives the page (``endpoint`` and ``keys``)."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url_encode(public), "auth": b64url_encode(self.auth_secret)},
        }


@dataclass
class ReceivedPush:
    endpoint: str
    payload: bytes
    ttl: int
    claims: dict[str, Any]
    vapid_public_key: str
    #: RFC 8030's ``Topic`` header, when the push had one.
    topic: str | None = None
    #: When it arrived (``time.monotonic()``).
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The decrypted payload parsed as JSON."""
        return json.loads(self.payload)


class VapidRejected(Exception):
    """The request's VAPID authorization is missing or invalid."""


class FakePushService(HeldAnswers, FakeServer):
    """The fake push service; tests read ``received`` and ``rejected``; ``hold_next(n)`` holds
    the answers to the next n pushes it accepted, ``lose_answer_next(n)`` answers them 500."""

    rules = (Rule("/push/<subscription_id>", methods=["POST"], endpoint="push"),)

    def __init__(self, expected_vapid_key: str | None = None) -> None:
        super().__init__()
        self.expected_vapid_key = expected_vapid_key
        self.subscriptions: dict[str, BrowserSubscription] = {}
        self.gone: dict[str, int] = {}
        self.received: list[ReceivedPush] = []
        self.rejected: list[str] = []
        self._ids = itertools.count(1)
        self._lost_answers: list[int] = []
        self._throttles: list[str] = []
        #: When each push answered 429 arrived (``time.monotonic()``).
        self.throttled: list[float] = []

    def subscribe(self) -> BrowserSubscription:
        """A new browser subscription whose pushes this service accepts and decrypts."""
        subscription_id = f"sub{next(self._ids)}"
        subscription = BrowserSubscription(
            endpoint=f"{self.url}/push/{subscription_id}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )
        self.subscriptions[subscription_id] = subscription
        return subscription

    def lose_answer_next(self, count: int = 1, status: int = 500) -> None:
        """Take the next ``count`` pushes (they reach the browser) but answer ``status``."""
        with self.recording():
            self._lost_answers.extend([status] * count)

    def throttle_next(self, count: int = 1, retry_after: str = "3") -> None:
        """Answer the next ``count`` pushes 429 with this ``Retry-After`` (not taking them)."""
        with self.recording():
            self._throttles.extend([retry_after] * count)

    def mark_gone(self, subscription: BrowserSubscription, status: int = 410) -> None:
        """From now on, pushes to this subscription answer ``status`` (404 or 410)."""
        self.gone[subscription.endpoint.rsplit("/", 1)[-1]] = status

    def _verified_claims(self, authorization: str) -> tuple[dict[str, Any], str]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise VapidRejected(f"scheme {scheme!r} is not vapid")
        parts = dict(item.strip().split("=", 1) for item in params.split(","))
        token, key = parts.get("t", ""), parts.get("k", "")
        if self.expected_vapid_key and key != self.expected_vapid_key:
            raise VapidRejected("unexpected application server key")
        header_b64, claims_b64, signature_b64 = token.split(".")
        if json.loads(b64url_decode(header_b64)).get("alg") != "ES256":
            raise VapidRejected("JWT alg is not ES256")
        signature = b64url_decode(signature_b64)
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(key)
        )
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise VapidRejected("bad JWT signature") from exc
        claims: dict[str, Any] = json.loads(b64url_decode(claims_b64))
        now = time.time()
        if claims.get("aud") != self.url:
            raise VapidRejected(f"aud {claims.get('aud')!r} is not {self.url}")
        if not now < int(claims.get("exp", 0)) <= now + 24 * 3600:
            raise VapidRejected("exp is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise VapidRejected("sub is not a mailto: or https: contact")
        return claims, key

    def handle_push(self, request: Request, subscription_id: str) -> Response:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return json_response({"reason": "no such subscription"}, status=404)
        if subscription_id in self.gone:
            return json_response(
                {"reason": "subscription expired"}, status=self.gone[subscription_id]
            )
        with self.recording():
            retry_after = self._throttles.pop(0) if self._throttles else None
            if retry_after is not None:
                self.throttled.append(time.monotonic())
        if retry_after is not None:
            response = json_response({"reason": "too many requests"}, status=429)
            response.headers["Retry-After"] = retry_after
            return response
        try:
            claims, key = self._verified_claims(request.headers.get("Authorization", ""))
        except (VapidRejected, ValueError) as exc:
            with self.recording():
                self.rejected.append(str(exc))
            return json_response({"reason": str(exc)}, status=401)
        if request.headers.get("Content-Encoding") != "aes128gcm" or "TTL" not in request.headers:
            return json_response({"reason": "aes128gcm body and TTL header required"}, status=400)
        payload = http_ece.decrypt(
            request.get_data(),
            private_key=subscription.private_key,
            auth_secret=subscription.auth_secret,
            version="aes128gcm",
        )
        push = ReceivedPush(
            subscription.endpoint,
            payload,
            int(request.headers["TTL"]),
            claims,
            key,
            request.headers.get("Topic"),
        )
        with self.recording():
            self.received.append(push)
            lost = self._lost_answers.pop(0) if self._lost_answers else None
        self._wait_if_held()
        if lost is not None:
            return json_response({"reason": "internal error after taking it"}, status=lost)
        response = Response(status=201)
        response.headers["Location"] = f"{self.url}/messages/{len(self.received)}"
        return response


@pytest.fixture
def fake_push_service() -> Iterator[FakePushService]:
    """A running fake push service."""
    server = FakePushService()
    server.start()
    try:
        yield server
    finally:
        server.stop()
