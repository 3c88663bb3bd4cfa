"""A fake webhook receiver (an n8n or customer endpoint) that checks Switchboard's signature.

It verifies ``X-Switchboard-Signature: t=<unix>,v1=<hex>`` independently of our own code
(HMAC-SHA256 of ``"<t>.<body>"`` with the shared secret), records every delivery, answers 401
to a bad signature, and can be told to fail the next N deliveries with 500.

Use the ``webhook_receiver`` fixture; deliver to ``webhook_receiver.url_for("n8n")``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer, HeldAnswers, json_response

SECRET = "whsec-fake-receiver-secret"


@dataclass
class ReceivedWebhook:
    path: str
    body: bytes
    headers: dict[str, str]
    signature_valid: bool
    answered: int

    def json(self) -> Any:
        """The delivered JSON document."""
        return json.loads(self.body)


def signature_is_valid(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """The receiver's side of the signature scheme, written from its specification."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - timestamp) <= tolerance_s
    return fresh and hmac.compare_digest(expected, fields.get("v1", ""))


class FakeWebhookReceiver(HeldAnswers, FakeServer):
    """Tests read ``received``; ``fail_next(n)`` makes the next n deliveries answer 500 (once
    received: the receiver has them), ``hold_next(n)`` holds the answers to the next n."""

    rules = (Rule("/hooks/<name>", methods=["POST"], endpoint="hook"),)

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.received: list[ReceivedWebhook] = []
        self._failures_left = 0

    def url_for(self, name: str = "default") -> str:
        """The URL of one hook on this receiver."""
        return f"{self.url}/hooks/{name}"

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` deliveries with 500."""
        with self.recording():
            self._failures_left = count

    def handle_hook(self, request: Request, name: str) -> Response:
        body = request.get_data()
        valid = signature_is_valid(
            self.secret, body, request.headers.get("X-Switchboard-Signature", "")
        )
        with self.recording():
            failing = valid and self._failures_left > 0
            if failing:
                self._failures_left -= 1
            status = 401 if not valid else 500 if failing else 200
            self.received.append(
                ReceivedWebhook(request.path, body, dict(request.headers), valid, status)
            )
        self._wait_if_held()
        if status == 401:
            return json_response({"error": "bad signature"}, status=401)
        if status == 500:
            return Response("internal error: receiver is down", status=500)
        return json_response({"received": True, "hook": name})


@pytest.fixture
def webhook_receiver() -> Iterator[FakeWebhookReceiver]:
    """A running fake webhook receiver that expects ``SECRET``."""
    server = FakeWebhookReceiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()
