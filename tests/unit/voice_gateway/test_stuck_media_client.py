"""A Media Streams client that stops reading, against a gateway served by uvicorn: once the
agent's audio has filled its socket's buffers nothing more is read from it, the reaper ends
its call, and the call ends with its ``call.ended`` published and its socket dropped (its
close frame cannot be written), while a call on another socket of the process goes on
hearing the agent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from switchboard.common.events import CallEnded
from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.media_websocket import MediaWebSocketProtocol
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AIConversation,
    CallContext,
    ScriptedAIProvider,
    ScriptedConversation,
)
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from switchboard.voice_gateway.session.call_session import CallSession
from switchboard.voice_gateway.session.registry import SessionRegistry
from tests.support.processes import free_port
from tests.support.waiting import wait_for
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.raw_websocket import frame, handshake
from tests.unit.voice_gateway.wiring import AGENT

#: A minute of agent audio for every ``say``: far more than the sockets' buffers hold.
_MINUTE = bytes([0x7F]) * 8000 * 60
#: Small socket buffers (the kernel doubles them), so a client that does not read fills
#: them within seconds of paced audio.
_BUFFER_BYTES = 4096


class TalkativeConversation(ScriptedConversation):
    """A scripted conversation whose every answer is a minute of audio."""

    async def say(self, instructions: str) -> None:
        await super().say(instructions)
        self.emit(AgentAudio(f"answer-{len(self.said)}", _MINUTE))


class TalkativeAI(ScriptedAIProvider):
    """Opens talkative conversations."""

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        conversation = TalkativeConversation()
        self.conversations.append(conversation)
        return conversation


@dataclass
class Served:
    address: str
    events: InMemoryEventPublisher
    registry: SessionRegistry


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A gateway (talkative AI, in-memory events) served by uvicorn in a thread, as
    ``server.py`` serves it, on a listening socket with a small send buffer."""
    settings = Settings(
        public_base_url="https://voice.example.com",
        twilio_auth_token="tw-token",
        media_token_secret=twilio.SECRET,
        amqp_url="",
        var_dir=tmp_path_factory.mktemp("gateway"),
    )
    events = InMemoryEventPublisher()
    app = create_app(
        settings,
        gateway_settings=GatewaySettings(dead_socket_timeout_s=2, reaper_interval_s=0.5),
        event_publisher=events,
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        ai_factory=TalkativeAI(),
        recorder=InMemoryCallRecorder(),
    )
    port = free_port()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER_BYTES)  # inherited
    listener.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app,
        ws=MediaWebSocketProtocol,
        ws_max_size=64 * 1024,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="gateway", daemon=True
    )
    thread.start()
    wait_for(lambda: server.started, timeout=15, what="the gateway to listen")
    yield Served(f"127.0.0.1:{port}", events, app.state.gateway.services.registry)
    server.should_exit = True
    thread.join(15)
    listener.close()


def _stuck_client(address: str, call_sid: str) -> socket.socket:
    """A client that starts a call and from then on never reads (a tiny receive buffer)."""
    host, port = address.split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER_BYTES)
    sock.settimeout(5)
    sock.connect((host, int(port)))
    sock.sendall(handshake(address, "/twilio/media"))
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # the upgrade's answer, no further
    assert answer.startswith(b"HTTP/1.1 101"), answer
    for text in (twilio.connected(), twilio.start(call_sid), twilio.media(2, call_sid=call_sid)):
        sock.sendall(frame(text.encode()))
    return sock


def _keep_talking(sock: socket.socket, call_sid: str, stop: threading.Event) -> None:
    """Caller audio every 20 ms on the stuck socket, until its sends fail or block."""
    sequence = 2
    with contextlib.suppress(OSError):  # a timeout too: the gateway reads no more of it
        while not stop.wait(0.02):  # Twilio's pace
            sequence += 1
            sock.sendall(frame(twilio.media(sequence, call_sid=call_sid).encode()))


async def _talk(ws: ClientConnection, sequences: list[int]) -> None:
    """Caller audio every 20 ms, as Twilio sends it (the reaper ends a quiet socket's call)."""
    while True:
        sequences[0] += 1
        await ws.send(twilio.media(sequences[0], call_sid="CAok"))
        await asyncio.sleep(0.02)  # Twilio's pace, not a wait for something


async def _count_media(ws: ClientConnection, counted: list[int]) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            if json.loads(message)["event"] == "media":
                counted[0] += 1


def _ended(served: Served, call_sid: str) -> CallEnded | None:
    return next(
        (
            e
            for e in served.events.of_type("call.ended")
            if isinstance(e, CallEnded) and e.call_sid == call_sid
        ),
        None,
    )


async def test_a_call_whose_client_stopped_reading_still_ends_with_its_event(
    gateway: Served,
) -> None:
    async with connect(f"ws://{gateway.address}/twilio/media") as healthy:
        for text in (twilio.connected(), twilio.start("CAok"), twilio.media(2, call_sid="CAok")):
            await healthy.send(text)
        heard, sequences = [0], [2]
        listening = asyncio.create_task(_count_media(healthy, heard))
        talking = asyncio.create_task(_talk(healthy, sequences))

        stuck = await asyncio.to_thread(_stuck_client, gateway.address, "CAstuck")
        done = threading.Event()
        talker = threading.Thread(target=_keep_talking, args=(stuck, "CAstuck", done))
        talker.start()
        with stuck:

            def stuck_is_full() -> bool:
                session = gateway.registry.get("CAstuck")
                return isinstance(session, CallSession) and not session.socket.can_send_now()

            await asyncio.to_thread(
                wait_for, stuck_is_full, timeout=30, what="the stuck call's buffers to fill"
            )
            ended = await asyncio.to_thread(
                wait_for, lambda: _ended(gateway, "CAstuck"), timeout=15, what="its call.ended"
            )
            assert ended.end_reason == "socket_dead"
            health = await asyncio.to_thread(httpx.get, f"http://{gateway.address}/health")
            assert health.json()["active_calls"] == 1
            done.set()
            await asyncio.to_thread(talker.join, 10)

        # The other call heard the agent all along, and still does.
        so_far = heard[0]
        await asyncio.to_thread(
            wait_for, lambda: heard[0] >= so_far + 25, timeout=5, what="the healthy call's audio"
        )
        talking.cancel()
        await asyncio.gather(talking, return_exceptions=True)
        await healthy.send(twilio.stop(sequences[0] + 1))
        await asyncio.wait_for(listening, 10)
    assert (healthy.close_code, healthy.close_reason) == (1000, "caller_hung_up")
