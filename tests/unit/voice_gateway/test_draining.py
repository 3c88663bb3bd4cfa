"""A draining gateway (after SIGTERM) takes no new call but stays up for the calls it has."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from switchboard.voice_gateway.session.admission import Admission
from tests.unit.voice_gateway.wiring import AGENT

PUBLIC = "https://voice.example.com"
SETTINGS = Settings(
    public_base_url=PUBLIC, twilio_auth_token="tw-token", media_token_secret="s", amqp_url=""
)
CALL = {"CallSid": "CA" + "1" * 32, "From": "+15557654321", "To": AGENT.phone_number}


@pytest.fixture
def app() -> FastAPI:
    return create_app(
        SETTINGS,
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8001") as client:
        yield client


async def _post_signed(client: httpx.AsyncClient, path: str) -> httpx.Response:
    signature = RequestValidator("tw-token").compute_signature(PUBLIC + path, CALL)
    return await client.post(path, data=CALL, headers={"X-Twilio-Signature": signature})


async def test_a_draining_gateway_is_not_ready(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/ready")).status_code == 200

    app.state.gateway.admission.begin_drain()

    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["draining"] is True
    assert (await client.get("/health")).status_code == 200  # alive: not to be restarted


async def test_a_new_call_at_a_draining_gateway_is_sent_back_through_the_public_url(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.gateway.admission.begin_drain()

    response = await _post_signed(client, "/twilio/voice/outbound?business_id=7&run_id=3")

    twiml = ET.fromstring(response.text)
    assert twiml.find("./Connect") is None
    redirect = twiml.find("./Redirect")
    assert redirect is not None and redirect.get("method") == "POST"
    assert redirect.text == (
        f"{PUBLIC}/twilio/voice/outbound?business_id=7&run_id=3&drain_redirected=1"
    )


async def test_a_call_bounced_once_already_is_refused_politely_instead_of_looping(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.gateway.admission.begin_drain()

    response = await _post_signed(client, "/twilio/voice/incoming?drain_redirected=1")

    twiml = ET.fromstring(response.text)
    assert "cannot take your call" in (twiml.findtext("Say") or "")
    assert twiml.find("Hangup") is not None


async def test_the_drain_ends_when_the_last_open_stream_closes() -> None:
    admission = Admission()
    with admission.stream():
        drained = asyncio.ensure_future(admission.drain(timeout_s=30))
        await asyncio.sleep(0)
        assert admission.draining and not drained.done()
    assert await drained is True


async def test_the_drain_gives_up_after_its_time_limit() -> None:
    admission = Admission()
    with admission.stream():
        assert await admission.drain(timeout_s=0.05) is False
