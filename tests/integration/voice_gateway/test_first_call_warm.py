"""The first call of a fresh gateway process pays nothing the later calls do not (issue #22).

A real gateway process (uvicorn, uvloop) with the real OpenAI Realtime adapter (against the
GA-protocol fake) or the real Gemini Live one (against the Live API fake), and the real
Twilio recorder against the fake Twilio REST API. Whatever a library
loads on first use is loaded in the event loop and holds every call's audio meanwhile (the
first greeting reached Twilio 100–150 ms late, in one burst): after startup, a whole call —
webhook, stream, greeting, recording, caller audio, barge-in — must import no new module.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from switchboard.voice_gateway.domain.codecs import split_frames
from switchboard.voice_gateway.domain.speech import speech_ulaw
from tests.fakes.gemini_live import API_KEY as GEMINI_KEY
from tests.fakes.gemini_live import FakeGeminiLive
from tests.fakes.openai_realtime import API_KEY, FakeRealtimeServer
from tests.fakes.twilio_calls import FakeCall
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.processes import free_port

BUSINESS_NUMBER = "+15550001111"
CALLER = "+15557654321"
CALL_SID = "CA" + "1" * 32

#: The gateway process: the app as ``switchboard gateway`` builds it, fakes for the agent
#: config and events, and one test-only route telling which modules were loaded since a mark.
GATEWAY = f"""
import sys
from pathlib import Path
from fastapi import Response
from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.server import serve_app

port, provider, ai_url, twilio_url, var_dir = sys.argv[1:6]
agent = AgentConfig(
    business_id=41, business_name="Acme Dental", phone_number="{BUSINESS_NUMBER}", prompt="Book.",
    greeting="Hello, Acme Dental here, how can I help you today?", recording_enabled=True,
)
settings = Settings(
    public_base_url=f"http://127.0.0.1:{{port}}", twilio_auth_token="{AUTH_TOKEN}",
    twilio_account_sid="{ACCOUNT_SID}", twilio_api_base_url=twilio_url, telephony="twilio",
    var_dir=Path(var_dir), database_url="", amqp_url="",
    **(
        dict(openai_api_key="{API_KEY}", openai_base_url=ai_url) if provider == "openai"
        else dict(ai_provider="gemini", gemini_api_key="{GEMINI_KEY}", gemini_base_url=ai_url)
    ),
)
app = create_app(
    settings, event_publisher=InMemoryEventPublisher(),
    agent_config_source=InMemoryAgentConfigSource([agent]),
)
marked = set()

@app.post("/_test/modules")
async def mark() -> Response:
    marked.clear()
    marked.update(sys.modules)
    return Response(status_code=204)

@app.get("/_test/modules")
async def loaded_since_mark() -> list[str]:
    return sorted(set(sys.modules) - marked)

serve_app(app, "127.0.0.1", int(port))
"""


@dataclass
class Provider:
    """The fake model the gateway talks to: its name, URL, and how many sessions it saw."""

    name: str
    url: str
    sessions: Callable[[], int]
    env: dict[str, str]


@pytest.fixture(params=["openai", "gemini"])
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
    if request.param == "openai":
        async with FakeRealtimeServer().running() as openai:
            yield Provider("openai", openai.url, lambda: len(openai.sessions), {})
        return
    async with FakeGeminiLive(answer_text="Of course, when would suit you?").running() as gemini:
        # google-genai trusts this file for its wss:// connection: the fake's TLS.
        env = {"SSL_CERT_FILE": str(gemini.ca_file)}
        yield Provider("gemini", gemini.url, lambda: len(gemini.setups), env)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer.running() as twilio:
        with twilio.recording():  # the call is live at Twilio: its recording can start
            twilio.calls[CALL_SID] = FakeCall(CALL_SID, {}, [], status="in-progress")
        yield twilio


@pytest.fixture
def gateway_url(provider: Provider, fake_twilio: FakeTwilioServer, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "gateway.log").open("w")
    args = [str(port), provider.name, provider.url, fake_twilio.url, str(tmp_path)]
    process = subprocess.Popen(
        [sys.executable, "-c", GATEWAY, *args],
        env={**os.environ, **provider.env},
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            assert time.monotonic() < deadline, "gateway did not become ready"
            time.sleep(0.1)  # a process starting: nothing to await but its port
        yield url
    finally:
        process.terminate()
        process.wait(15)
        print((tmp_path / "gateway.log").read_text()[-3000:])


def media(sequence: int, payload: bytes) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "streamSid": "MZ1",
            "media": {
                "track": "inbound",
                "chunk": str(sequence),
                "timestamp": "0",
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


async def one_call(url: str) -> list[str]:
    """Ring, stream, hear the greeting, speak over it, hang up; Twilio's events received."""
    form = {"CallSid": CALL_SID, "From": CALLER, "To": BUSINESS_NUMBER}
    path = "/twilio/voice/incoming"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url + path, form)
    async with httpx.AsyncClient() as http:
        response = await http.post(url + path, data=form, headers={"X-Twilio-Signature": signature})
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None, response.text
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
    received: list[str] = []
    async with websockets.connect(url.replace("http", "ws", 1) + "/twilio/media") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1"}))
        start: dict[str, Any] = {
            "streamSid": "MZ1",
            "accountSid": ACCOUNT_SID,
            "callSid": CALL_SID,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "start": start}))
        sequence = 1
        async with asyncio.timeout(20):
            async for raw in ws:
                event = json.loads(raw)["event"]
                received.append(event)
                if received.count("media") == 5:  # the greeting plays: speak over it
                    for payload in split_frames(speech_ulaw("Sorry, one question first")):
                        sequence += 1
                        await ws.send(media(sequence, payload))
                if event == "clear":
                    break
        await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(sequence + 1)}))
    return received


def sample(metrics: str, name: str, labels: str = 'provider="openai"') -> float:
    prefix = f"{name}{{{labels}}} "
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


async def test_a_fresh_gateways_first_call_loads_no_module_and_is_timed_on_metrics(
    gateway_url: str, provider: Provider, fake_twilio: FakeTwilioServer
) -> None:
    by_provider = f'provider="{provider.name}"'
    async with httpx.AsyncClient() as http:
        await http.post(f"{gateway_url}/_test/modules")

        received = await one_call(gateway_url)

        loaded = (await http.get(f"{gateway_url}/_test/modules")).json()
        metrics = (await http.get(f"{gateway_url}/metrics")).text
    assert received.count("media") >= 5 and "clear" in received
    assert loaded == []
    assert sample(metrics, "switchboard_gateway_greeting_latency_seconds_count", by_provider) == 1
    assert sample(metrics, "switchboard_gateway_agent_audio_latency_seconds_count", by_provider)
    assert sample(metrics, "switchboard_gateway_caller_audio_latency_seconds_count", by_provider)
    assert sample(metrics, "switchboard_gateway_barge_in_latency_seconds_count", by_provider) == 1
    assert sample(metrics, "switchboard_gateway_preopened_sessions_total", 'outcome="used"') == 1
    assert provider.sessions() == 1  # the session opened as the phone rang, no other
