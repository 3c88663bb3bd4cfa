"""A simulated call through a real gateway process whose agent is Gemini Live (a fake of it):
greeting, answer, barge-in, and the call's events on RabbitMQ with both sides' words."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from switchboard.common.events import CallEnded, CallStarted, parse_event
from switchboard.voice_gateway.simulator import simulate_call
from tests.fakes.gemini_live import API_KEY, FakeGeminiLive
from tests.fakes.server import json_response
from tests.integration.voice_gateway.test_events_rabbitmq import EventQueue, event_queue
from tests.integration.voice_gateway.test_simulated_call import (
    AGENT,
    AUTH_TOKEN,
    BUSINESS_NUMBER,
    CALLER,
    INTERNAL_TOKEN,
    FakeInternalApi,
)
from tests.support.processes import free_port

__all__ = ["event_queue"]

ANSWER = (
    "Of course, we have openings on Monday morning, Wednesday afternoon "
    "and Friday at nine, which one would suit you best?"
)


class AgentApi(FakeInternalApi):
    """The internal agent-config endpoint, answering with ``agent``."""

    def __init__(self, agent: dict[str, object]) -> None:
        super().__init__()
        self.agent = agent

    def handle_agent_config(self, request: Request) -> Response:
        response = super().handle_agent_config(request)
        return json_response(self.agent) if response.status_code == 200 else response


@dataclass
class GeminiGateway:
    url: str
    gemini: FakeGeminiLive


def _log_text(log: Path) -> str:
    return log.read_text()


async def _ready(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=1) as http:
        while True:
            try:
                if (await http.get(f"{url}/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert process.returncode is None, _log_text(log)
            assert time.monotonic() < deadline, "gateway did not become ready"
            await asyncio.sleep(0.1)


@pytest.fixture(
    params=[("gemini", None), ("", "gemini")],
    ids=["AI_PROVIDER=gemini", "chosen-in-agent-settings"],
)
async def gemini_gateway(
    request: pytest.FixtureRequest, amqp_url: str, tmp_path: Path
) -> AsyncIterator[GeminiGateway]:
    """A gateway process (no OpenAI key) that reaches Gemini Live either because AI_PROVIDER
    says so or because the business's agent settings do."""
    deployment_default, business_choice = request.param
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with FakeGeminiLive(answer_text=ANSWER).running() as gemini:
        with AgentApi.running({**AGENT, "ai_provider": business_choice}) as api:
            env = {
                **os.environ,
                "PUBLIC_BASE_URL": url,
                "API_BASE_URL": api.url,
                "INTERNAL_API_TOKEN": INTERNAL_TOKEN,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "AMQP_URL": amqp_url,
                "DATABASE_URL": "",
                "OPENAI_API_KEY": "",
                "AI_PROVIDER": deployment_default,
                "GEMINI_API_KEY": API_KEY,
                "GEMINI_BASE_URL": gemini.url,
                # google-genai trusts this file for its wss:// connection: the fake's TLS.
                "SSL_CERT_FILE": str(gemini.ca_file),
                "VAR_DIR": str(tmp_path),
                "GATEWAY__EVENT_QUEUE": "",
            }
            code = f"from switchboard.voice_gateway.server import serve; serve('127.0.0.1', {port})"
            log = tmp_path / "gateway.log"
            with log.open("w") as out:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", code, env=env, stdout=out, stderr=out
                )
            try:
                await _ready(url, process, log)
                yield GeminiGateway(url, gemini)
            finally:
                process.terminate()
                await asyncio.wait_for(process.wait(), 15)
                print(_log_text(log)[-3000:])


async def test_a_gemini_call_greets_answers_is_barged_in_on_and_logs_both_sides(
    gemini_gateway: GeminiGateway, event_queue: EventQueue
) -> None:
    outcome = await simulate_call(
        gemini_gateway.url,
        CALLER,
        BUSINESS_NUMBER,
        auth_token=AUTH_TOKEN,
        utterances=["I need a cleaning."],
        barge_in=True,
    )

    assert (outcome.status, outcome.ended_by) == ("completed", "caller")
    assert outcome.agent_said[0] == AGENT["greeting"]
    assert outcome.clears >= 1 and gemini_gateway.gemini.interruptions >= 1
    assert outcome.agent_audio_s > 3 and outcome.marks_echoed > 0
    (setup,) = gemini_gateway.gemini.setups
    assert AGENT["prompt"] in setup["systemInstruction"]["parts"][0]["text"]

    started = parse_event((await event_queue.next_message()).body)
    ended = parse_event((await event_queue.next_message()).body)
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert (ended.business_id, ended.call_sid, ended.end_reason) == (
        AGENT["business_id"],
        outcome.call_sid,
        "caller_hung_up",
    )
    turns = [(t.role, t.text) for t in ended.transcript]
    assert turns[0] == ("agent", AGENT["greeting"])
    callers = [text for role, text in turns if role == "caller"]
    assert len(callers) == 2 and all(t.startswith("caller spoke for") for t in callers)
    # Gemini answered twice; the answer talked over keeps only what was played before the
    # caller spoke (a few words, or none), the second one is whole.
    assert [role for role, _ in turns[:2]] == ["agent", "caller"]
    assert [role for role, _ in turns[-2:]] == ["caller", "agent"]
    assert [text for _, text in turns].count(ANSWER) == 1 and turns[-1][1] == ANSWER
