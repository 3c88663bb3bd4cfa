"""Provider sessions opened while the phone rings: used by their call's stream, never leaked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.agent_config import (
    CachedAgentConfigSource,
    InMemoryAgentConfigSource,
)
from switchboard.voice_gateway.ports.ai import (
    AIConversation,
    CallContext,
    ScriptedAIProvider,
    ScriptedConversation,
)
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.media_socket import InMemoryMediaSocket
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from switchboard.voice_gateway.session.preopen import PreopenedSessions
from switchboard.voice_gateway.session.stream_handler import MediaStreamHandler
from switchboard.voice_gateway.webhook_handlers import TwilioWebhookHandlers
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.wiring import AGENT, Core


class ClosingConversation(ScriptedConversation):
    """A scripted conversation that tells when it is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_event = asyncio.Event()

    async def close(self) -> None:
        await super().close()
        self.closed_event.set()


class CountingProvider(ScriptedAIProvider):
    """Hands out conversations that tell when they are closed."""

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        conversation = ClosingConversation()
        self.conversations.append(conversation)
        self.opened.set()
        return conversation


def ringing(call_sid: str = "CA1") -> CallContext:
    return CallContext(call_sid, "inbound", "+15557654321", AGENT.phone_number)


async def agent() -> AgentConfig:
    return AGENT


@pytest.fixture
async def provider() -> AsyncIterator[CountingProvider]:
    yield CountingProvider()


async def closed(conversation: ScriptedConversation) -> bool:
    assert isinstance(conversation, ClosingConversation)
    await asyncio.wait_for(conversation.closed_event.wait(), 5)
    return conversation.closed


async def test_a_call_that_never_streams_has_its_session_closed_after_the_timeout(
    provider: CountingProvider,
) -> None:
    sessions = PreopenedSessions(provider, timeout_s=0.05)
    sessions.prepare(ringing(), agent)
    await asyncio.wait_for(provider.opened.wait(), 5)

    assert await closed(provider.conversations[0])
    assert "CA1" not in sessions and len(sessions) == 0


async def test_the_gateway_stopping_closes_every_session_still_waiting(
    provider: CountingProvider,
) -> None:
    sessions = PreopenedSessions(provider, timeout_s=60)
    sessions.prepare(ringing("CA1"), agent)
    sessions.prepare(ringing("CA2"), agent)

    await sessions.close_all()

    assert len(provider.conversations) == 2
    assert all([await closed(c) for c in provider.conversations])
    assert len(sessions) == 0


async def test_a_retried_webhook_keeps_the_session_already_opening(
    provider: CountingProvider,
) -> None:
    sessions = PreopenedSessions(provider, timeout_s=60)
    sessions.prepare(ringing(), agent)
    sessions.prepare(ringing(), agent)
    prepared = await sessions.claim("CA1")

    assert prepared is not None and len(provider.conversations) == 1
    await sessions.close_all()


async def test_no_session_is_opened_when_pre_opening_is_off(provider: CountingProvider) -> None:
    sessions = PreopenedSessions(provider, timeout_s=0)
    sessions.prepare(ringing(), agent)

    assert await sessions.claim("CA1") is None
    assert provider.conversations == []


async def test_a_stream_uses_its_calls_pre_opened_session_and_opens_no_second(
    core: Core, provider: CountingProvider
) -> None:
    core.services.ai = provider
    sessions = PreopenedSessions(provider, timeout_s=60)
    handler = MediaStreamHandler(
        core.services, InMemoryAgentConfigSource([]), twilio.SECRET, preopened=sessions
    )
    sessions.prepare(ringing("CA1"), agent)
    await asyncio.wait_for(provider.opened.wait(), 5)

    socket = InMemoryMediaSocket()
    call = asyncio.create_task(handler.handle(socket))
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA1"))
    socket.feed(twilio.media(2))
    (conversation,) = provider.conversations
    await asyncio.wait_for(conversation.heard_caller.wait(), 5)
    socket.feed(twilio.stop(3))

    assert await asyncio.wait_for(call, 5) == "caller_hung_up"
    assert len(provider.conversations) == 1  # no second session was opened
    assert conversation.said == [AGENT.greeting]
    assert conversation.closed and len(sessions) == 0


async def test_a_stream_of_another_call_cannot_take_a_pre_opened_session(
    core: Core, provider: CountingProvider
) -> None:
    core.services.ai = provider
    sessions = PreopenedSessions(provider, timeout_s=60)
    handler = MediaStreamHandler(
        core.services, InMemoryAgentConfigSource([AGENT]), twilio.SECRET, preopened=sessions
    )
    sessions.prepare(ringing("CA1"), agent)
    await asyncio.wait_for(provider.opened.wait(), 5)
    provider.opened.clear()

    socket = InMemoryMediaSocket()
    call = asyncio.create_task(handler.handle(socket))
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA2"))
    socket.feed(twilio.media(2, call_sid="CA2"))
    await asyncio.wait_for(provider.opened.wait(), 5)
    await asyncio.wait_for(provider.conversations[-1].heard_caller.wait(), 5)
    socket.feed(twilio.stop(3))

    assert await asyncio.wait_for(call, 5) == "caller_hung_up"
    assert len(provider.conversations) == 2 and "CA1" in sessions
    await sessions.close_all()


async def test_a_pre_opened_session_for_another_business_is_closed_not_used(
    core: Core, provider: CountingProvider
) -> None:
    core.services.ai = provider
    sessions = PreopenedSessions(provider, timeout_s=60)
    handler = MediaStreamHandler(
        core.services, InMemoryAgentConfigSource([AGENT]), twilio.SECRET, preopened=sessions
    )

    async def other_business() -> AgentConfig:
        return AGENT.model_copy(update={"business_id": AGENT.business_id + 1})

    sessions.prepare(ringing("CA1"), other_business)
    await asyncio.wait_for(provider.opened.wait(), 5)
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(handler.handle(socket))
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA1"))

    assert await asyncio.wait_for(call, 5) == "no_agent"
    assert await closed(provider.conversations[0])


async def test_the_incoming_webhook_pre_opens_the_session_of_its_call(
    provider: CountingProvider,
) -> None:
    sessions = PreopenedSessions(provider, timeout_s=60)
    configs = CachedAgentConfigSource(InMemoryAgentConfigSource([AGENT]), 0, lambda: 0.0)
    webhooks = TwilioWebhookHandlers(
        configs,
        InMemoryEventPublisher(),
        public_base_url="https://gw.example.com",
        media_token_secret=twilio.SECRET,
        media_token_ttl_s=60,
        preopen=sessions,
    )

    call_sid = "CA" + "9" * 32
    form = {"CallSid": call_sid, "From": "+15557654321", "To": AGENT.phone_number}
    twiml = await webhooks.incoming_call(form)

    assert "<Stream" in twiml and call_sid in sessions
    prepared = await sessions.claim(call_sid)
    assert prepared is not None and prepared.config == AGENT
    assert prepared.conversation is provider.conversations[0]
    await prepared.close()


async def test_a_stopping_gateway_closes_the_sessions_its_webhooks_opened(
    provider: CountingProvider, tmp_path: Path
) -> None:
    public = "https://voice.example.com"
    settings = Settings(
        public_base_url=public, twilio_auth_token="tw-token", amqp_url="", var_dir=tmp_path
    )
    app = create_app(
        settings,
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        ai_factory=provider,
        recorder=InMemoryCallRecorder(),
    )
    form = {"CallSid": "CA" + "1" * 32, "From": "+15557654321", "To": AGENT.phone_number}
    path = "/twilio/voice/incoming"
    signature = RequestValidator("tw-token").compute_signature(public + path, form)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal") as http:
            response = await http.post(path, data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200
        await asyncio.wait_for(provider.opened.wait(), 5)

    assert await closed(provider.conversations[0])
