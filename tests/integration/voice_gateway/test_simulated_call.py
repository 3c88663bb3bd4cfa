"""A simulated call through a real gateway process: offline agent, RabbitMQ events, fake API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from switchboard.common.events import CallEnded, CallStarted, parse_event
from switchboard.voice_gateway.simulator import OutboundCall, simulate_call
from tests.fakes.server import FakeServer, json_response
from tests.integration.voice_gateway.test_events_rabbitmq import EventQueue, event_queue
from tests.support.processes import free_port

__all__ = ["event_queue"]

AUTH_TOKEN = "sim-twilio-token"
INTERNAL_TOKEN = "sim-internal-token"
BUSINESS_NUMBER = "+15550001111"
CALLER = "+15557654321"
AGENT = {
    "business_id": 41,
    "business_name": "Acme Dental",
    "phone_number": BUSINESS_NUMBER,
    "prompt": "Book appointments.",
    "greeting": "Hello, Acme Dental here.",
    "voice": "alloy",
    "language": "en-US",
    "recording_enabled": False,
    "max_call_seconds": 120,
    "silence_timeout_s": 20,
}


class FakeInternalApi(FakeServer):
    """The API's ``/internal/v1/agent-config`` as the gateway expects it."""

    rules = (Rule("/internal/v1/agent-config", methods=["GET"], endpoint="agent_config"),)

    def handle_agent_config(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {INTERNAL_TOKEN}":
            return json_response({"detail": "forbidden"}, status=403)
        if request.args.get("to") != BUSINESS_NUMBER:
            return json_response({"detail": "unknown number"}, status=404)
        return json_response(AGENT)


@pytest.fixture
def gateway_url(amqp_url: str, tmp_path: Path) -> Iterator[str]:
    """A gateway process (uvicorn, uvloop) on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with FakeInternalApi.running() as api:
        env = {
            **os.environ,
            "PUBLIC_BASE_URL": url,
            "API_BASE_URL": api.url,
            "INTERNAL_API_TOKEN": INTERNAL_TOKEN,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "AMQP_URL": amqp_url,
            "DATABASE_URL": "",
            "OPENAI_API_KEY": "",
            "VAR_DIR": str(tmp_path),
            "GATEWAY__EVENT_QUEUE": "",
        }
        code = f"from switchboard.voice_gateway.server import serve; serve('127.0.0.1', {port})"
        log = (tmp_path / "gateway.log").open("w")
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log)
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
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(15)
            print((tmp_path / "gateway.log").read_text()[-3000:])


async def test_a_simulated_call_hears_the_agent_and_ends_with_events_on_rabbitmq(
    gateway_url: str, event_queue: EventQueue
) -> None:
    outcome = await simulate_call(
        gateway_url,
        CALLER,
        BUSINESS_NUMBER,
        auth_token=AUTH_TOKEN,
        utterances=["I need a cleaning."],
    )

    assert (outcome.status, outcome.ended_by) == ("completed", "caller")
    assert outcome.agent_said[0] == "Hello, Acme Dental here."
    assert "offline assistant for Acme Dental" in outcome.agent_said[1]
    assert outcome.agent_audio_s > 2 and outcome.marks_echoed > 0
    started = parse_event((await event_queue.next_message()).body)
    ended = parse_event((await event_queue.next_message()).body)
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert (ended.business_id, ended.call_sid, ended.end_reason) == (
        41,
        outcome.call_sid,
        "caller_hung_up",
    )
    assert [t.role for t in ended.transcript] == ["agent", "caller", "agent"]
    async with httpx.AsyncClient() as http:
        health = (await http.get(f"{gateway_url}/health")).json()
    assert health["thread_count"] < 10, json.dumps(health["threads"])


async def test_an_outbound_call_carries_its_run_and_item_into_the_call_events(
    gateway_url: str, event_queue: EventQueue
) -> None:
    outcome = await simulate_call(
        gateway_url,
        BUSINESS_NUMBER,
        CALLER,
        auth_token=AUTH_TOKEN,
        utterances=[],
        outbound=OutboundCall(business_id=41, run_id=5, item_id=17),
    )

    assert outcome.status == "completed"
    started = parse_event((await event_queue.next_message()).body)
    assert isinstance(started, CallStarted)
    assert (started.direction, started.run_id, started.item_id) == ("outbound", 5, 17)


async def test_a_call_to_an_unknown_number_is_refused_politely(gateway_url: str) -> None:
    outcome = await simulate_call(gateway_url, CALLER, "+15550000000", auth_token=AUTH_TOKEN)
    assert outcome.status == "rejected"
    assert "not connected to an assistant" in outcome.message
    assert outcome.reason == "unknown_number"


async def test_a_webhook_signed_with_the_wrong_token_is_refused(gateway_url: str) -> None:
    outcome = await simulate_call(gateway_url, CALLER, BUSINESS_NUMBER, auth_token="wrong")
    assert (outcome.status, outcome.message) == ("failed", "webhook answered 403")
