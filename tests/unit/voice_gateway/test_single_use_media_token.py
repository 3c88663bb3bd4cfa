"""A Media Streams token opens one socket: a second one is refused, also after a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from switchboard.common.settings import Settings
from switchboard.voice_gateway.adapters.used_token_journal import UsedTokenJournal
from switchboard.voice_gateway.bootstrap import used_media_tokens
from switchboard.voice_gateway.domain.media_token import (
    UsedMediaTokens,
    media_token_id,
    sign_media_token,
)
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.media_socket import InMemoryMediaSocket
from switchboard.voice_gateway.session.stream_handler import MediaStreamHandler
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.wiring import AGENT, Core


async def _replay(handler: MediaStreamHandler, token: str) -> InMemoryMediaSocket:
    socket = InMemoryMediaSocket()
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA1", token=token))
    assert await asyncio.wait_for(handler.handle(socket), 5) == "token_reused"
    return socket


async def test_a_second_socket_with_the_same_token_is_closed_with_a_reason(core: Core) -> None:
    token = sign_media_token(twilio.claims("CA1"), twilio.SECRET)
    first = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(first))
    first.feed(twilio.connected())
    first.feed(twilio.start("CA1", token=token))
    await asyncio.wait_for(core.ai.opened.wait(), 5)
    second = await _replay(core.handler, token)
    assert second.closed_with == (1008, "token already used")
    assert first.closed_with is None  # the call the token was issued for goes on
    first.feed(twilio.stop(2))
    assert await asyncio.wait_for(call, 5) != "token_reused"


async def test_a_second_stream_for_a_live_call_is_closed_even_with_its_own_token(
    core: Core,
) -> None:
    # A second token for the call: its webhook answered again (a replayed signed request).
    first_token = sign_media_token(twilio.claims("CA1"), twilio.SECRET)
    second_token = sign_media_token(
        twilio.claims("CA1", expires_at=time.time() + 61), twilio.SECRET
    )
    first = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(first))
    first.feed(twilio.connected())
    first.feed(twilio.start("CA1", token=first_token))
    await asyncio.wait_for(core.ai.opened.wait(), 5)
    session = core.services.registry.get("CA1")
    assert session is not None

    second = InMemoryMediaSocket()
    second.feed(twilio.connected())
    second.feed(twilio.start("CA1", token=second_token))
    assert await asyncio.wait_for(core.handler.handle(second), 5) == "duplicate_stream"
    assert second.closed_with == (1008, "call already has a stream")
    assert first.closed_with is None  # the call goes on, still the one registered
    assert core.services.registry.get("CA1") is session

    first.feed(twilio.stop(2))
    assert await asyncio.wait_for(call, 5) == "caller_hung_up"
    assert [event.type for event in core.events.events] == ["call.started", "call.ended"]
    assert len(core.recorder.started) == 1


async def test_a_restarted_gateway_still_refuses_a_used_token(core: Core, tmp_path: Path) -> None:
    path = tmp_path / "used-media-tokens"
    token = sign_media_token(twilio.claims("CA1"), twilio.SECRET)
    before = UsedTokenJournal(path)
    used = UsedMediaTokens(before.load(time.time()), before.record)
    assert used.claim(media_token_id(token), time.time() + 60, time.time())
    before.close()  # the process ends
    after = UsedTokenJournal(path)
    handler = MediaStreamHandler(
        core.services,
        InMemoryAgentConfigSource([AGENT]),
        twilio.SECRET,
        UsedMediaTokens(after.load(time.time()), after.record),
    )
    socket = await _replay(handler, token)
    assert socket.closed_with == (1008, "token already used")


def test_expired_tokens_are_forgotten_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "used-media-tokens"
    journal = UsedTokenJournal(path)
    journal.load(100.0)
    journal.record("a" * 32, 150.0)
    journal.record("b" * 32, 250.0)
    journal.close()
    with path.open("a") as torn:
        torn.write("3")  # a crash in the middle of a line
    assert UsedTokenJournal(path).load(200.0) == [("b" * 32, 250.0)]
    used = UsedMediaTokens([("b" * 32, 250.0)])
    assert not used.claim("b" * 32, 250.0, 200.0)
    assert used.claim("b" * 32, 400.0, 300.0)  # expired at 250: no longer remembered


async def test_a_first_started_gateway_journals_the_tokens_its_streams_use(
    core: Core, tmp_path: Path
) -> None:
    # At a first start the journal remembers nothing: the handler must still use its
    # register (an empty one is falsy), or no used token reaches the journal.
    closers: list[object] = []
    used = used_media_tokens(Settings(var_dir=tmp_path), closers)
    assert len(used) == 0
    handler = MediaStreamHandler(
        core.services, InMemoryAgentConfigSource([AGENT]), twilio.SECRET, used
    )
    token = sign_media_token(twilio.claims("CA1"), twilio.SECRET)
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(handler.handle(socket))
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA1", token=token))
    await asyncio.wait_for(core.ai.opened.wait(), 5)
    socket.feed(twilio.stop(2))
    assert await asyncio.wait_for(call, 5) == "caller_hung_up"

    assert len(used) == 1
    journal = UsedTokenJournal(tmp_path / "used-media-tokens")
    assert [tid for tid, _ in journal.load(time.time())] == [media_token_id(token)]
    for closer in closers:
        closer.close()  # type: ignore[attr-defined]


def test_a_gateway_that_used_no_token_writes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "used-media-tokens"
    journal = UsedTokenJournal(path)
    assert journal.load(100.0) == []
    journal.close()
    assert not path.parent.exists()  # nothing under VAR_DIR until a token is used
    journal.record("a" * 32, 150.0)
    journal.close()
    assert UsedTokenJournal(path).load(100.0) == [("a" * 32, 150.0)]
