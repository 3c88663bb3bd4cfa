"""The gateway core wired with fakes: scripted AI, in-memory events, sockets and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.ai import ScriptedAIProvider
from switchboard.voice_gateway.ports.clock import FakeClock
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from switchboard.voice_gateway.session.call_session import SessionServices
from switchboard.voice_gateway.session.registry import SessionRegistry
from switchboard.voice_gateway.session.stream_handler import MediaStreamHandler
from switchboard.voice_gateway.session.ticker import FrameTicker
from switchboard.voice_gateway.twilio.serializer import TwilioMediaSerializer
from tests.unit.voice_gateway.twilio_messages import SECRET

AGENT = AgentConfig(
    business_id=7,
    business_name="Acme Dental",
    phone_number="+15550001111",
    prompt="You book dental appointments.",
    greeting="Hello from Acme Dental.",
    recording_enabled=True,
    max_call_seconds=300,
    silence_timeout_s=10,
)


@dataclass
class Core:
    services: SessionServices
    handler: MediaStreamHandler
    ai: ScriptedAIProvider
    events: InMemoryEventPublisher
    clock: FakeClock
    recorder: InMemoryCallRecorder


@asynccontextmanager
async def wired_core(frames_per_tick: int = 1) -> AsyncIterator[Core]:
    """A session core with fakes on every port and a running frame ticker."""
    ai, events, clock, recorder = (
        ScriptedAIProvider(),
        InMemoryEventPublisher(),
        FakeClock(),
        InMemoryCallRecorder(),
    )
    ticker = FrameTicker(frames_per_tick)
    ticker.start()
    services = SessionServices(
        settings=GatewaySettings(mark_every_ms=100, watchdog_interval_s=0.5),
        public_base_url="https://gw.example.com",
        publisher=events,
        ai=ai,
        transcriber=None,
        recorder=recorder,
        clock=clock,
        ticker=ticker,
        registry=SessionRegistry(),
        serializer=TwilioMediaSerializer(),
    )
    handler = MediaStreamHandler(services, InMemoryAgentConfigSource([AGENT]), SECRET)
    try:
        yield Core(services, handler, ai, events, clock, recorder)
    finally:
        await ticker.stop()
