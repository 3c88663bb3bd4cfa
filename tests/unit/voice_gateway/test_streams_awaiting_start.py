"""Sockets that connected but have not sent ``start`` are capped per process
(``GATEWAY__MAX_AWAITING_START``): one more is closed at once with 1013 and counted, those
waiting already are untouched, and a place is free again once a socket has started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.served import serving, until_closed
from tests.unit.voice_gateway.wiring import AGENT

CAP = 2


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway (offline agent, in-memory events) served by uvicorn in a thread, as
    ``server.py`` serves it, with room for CAP sockets awaiting start."""
    settings = Settings(
        public_base_url="https://voice.example.com",
        twilio_auth_token="tw-token",
        media_token_secret=twilio.SECRET,
        amqp_url="",
        var_dir=tmp_path_factory.mktemp("gateway"),
    )
    app = create_app(
        settings,
        gateway_settings=GatewaySettings(max_awaiting_start=CAP),
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )
    with serving(app) as address:
        yield address


def _refused(gateway: str) -> float:
    text = httpx.get(f"http://{gateway}/metrics").text
    pattern = (
        r'^switchboard_gateway_media_streams_refused_total\{reason="awaiting_start_full"\} (\S+)$'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _call_is_answered(socket: ClientConnection, call_sid: str) -> None:
    """Start a call on ``socket`` and wait for the agent's greeting."""
    for text in (twilio.connected(), twilio.start(call_sid), twilio.media(2, call_sid=call_sid)):
        await socket.send(text)
    first = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert first["event"] in ("media", "mark")


async def test_one_socket_more_than_may_await_start_is_closed_1013_and_the_others_go_on(
    gateway: str,
) -> None:
    url = f"ws://{gateway}/twilio/media"
    before = await asyncio.to_thread(_refused, gateway)
    async with contextlib.AsyncExitStack() as stack:
        # CAP sockets open and say nothing: each holds a place until its start (or 10 s).
        idle = [await stack.enter_async_context(connect(url)) for _ in range(CAP)]

        async with connect(url) as one_more:
            code, reason = await asyncio.wait_for(until_closed(one_more), 10)
        assert (code, reason) == (1013, "too many streams awaiting start")
        assert await asyncio.to_thread(_refused, gateway) == before + 1
        assert all(socket.state is State.OPEN for socket in idle)

        # The sockets waiting still get their calls; each frees its place as it starts.
        await _call_is_answered(idle[0], "CAwaited0")
        later = await stack.enter_async_context(connect(url))
        await _call_is_answered(later, "CAlater")
        await _call_is_answered(idle[1], "CAwaited1")
        for socket, sequence in ((idle[0], 3), (later, 3), (idle[1], 3)):
            await socket.send(twilio.stop(sequence))
            assert await asyncio.wait_for(until_closed(socket), 10) == (1000, "caller_hung_up")
    assert await asyncio.to_thread(_refused, gateway) == before + 1
