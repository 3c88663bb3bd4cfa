"""The gateway's sandbox callees: who may hand them calls, and the callbacks they send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest
from twilio.request_validator import RequestValidator

from switchboard.common.integrations.sandbox.calls import BUSY_NUMBER, CALLS_PATH
from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from tests.fakes.webhook_receiver import FakeWebhookReceiver, webhook_receiver
from tests.support.waiting import wait_for
from tests.unit.voice_gateway.wiring import AGENT

__all__ = ["webhook_receiver"]
TOKEN = "tw-token"
INTERNAL = {"Authorization": "Bearer internal-token"}


def _settings(telephony: str) -> Settings:
    return Settings(
        public_base_url="https://voice.example.com",
        twilio_auth_token=TOKEN,
        internal_api_token="internal-token",
        amqp_url="",
        telephony=telephony,  # type: ignore[arg-type]
    )


async def _client(telephony: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        _settings(telephony),
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
    )
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


@pytest.fixture
async def sandbox() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client("sandbox"):
        yield client


@pytest.fixture
async def twilio() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client("twilio"):
        yield client


def _call(to: str, status_callback: str) -> dict[str, object]:
    return {
        "to": to,
        "from": AGENT.phone_number,
        "url": "https://voice.example.com/twilio/voice/outbound?business_id=7",
        "status_callback": status_callback,
    }


async def test_calls_are_taken_only_with_the_internal_token(sandbox: httpx.AsyncClient) -> None:
    refused = await sandbox.post(CALLS_PATH, json=_call(BUSY_NUMBER, "http://x/cb"))
    unknown = await sandbox.get(f"{CALLS_PATH}/CA0", headers=INTERNAL)
    assert (refused.status_code, unknown.status_code) == (401, 404)


async def test_there_are_no_callees_while_telephony_is_twilio(twilio: httpx.AsyncClient) -> None:
    response = await twilio.post(
        CALLS_PATH, json=_call(BUSY_NUMBER, "http://x/cb"), headers=INTERNAL
    )
    assert response.status_code == 404


async def test_a_busy_callee_sends_signed_progress_callbacks_ending_busy(
    sandbox: httpx.AsyncClient, webhook_receiver: FakeWebhookReceiver
) -> None:
    callback = webhook_receiver.url_for("status") + "?business_id=7&run_id=1&item_id=2"
    placed = await sandbox.post(CALLS_PATH, json=_call(BUSY_NUMBER, callback), headers=INTERNAL)
    assert placed.status_code == 201 and placed.json()["status"] == "queued"
    sid = placed.json()["sid"]

    # The receiver is a server thread: wait for it off the loop the callee runs on.
    await asyncio.to_thread(
        wait_for, lambda: len(webhook_receiver.received) >= 3, timeout=10, what="3 callbacks"
    )
    state = await sandbox.get(f"{CALLS_PATH}/{sid}", headers=INTERNAL)
    assert state.json()["status"] == "busy"

    forms = [
        {k: v[0] for k, v in parse_qs(hook.body.decode()).items()}
        for hook in webhook_receiver.received
    ]
    assert [form["CallStatus"] for form in forms] == ["queued", "ringing", "busy"]
    assert {form["CallSid"] for form in forms} == {sid}
    validator = RequestValidator(TOKEN)
    for hook, form in zip(webhook_receiver.received, forms, strict=True):
        assert validator.validate(callback, form, hook.headers["X-Twilio-Signature"])
