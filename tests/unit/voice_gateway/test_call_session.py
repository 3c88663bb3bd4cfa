import asyncio
import base64
import itertools
import json
import time

import pytest
from prometheus_client import REGISTRY

from switchboard.common.events import CallEnded, CallStarted
from switchboard.voice_gateway.domain.playback import PlaybackMark
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AnswerDone,
    CallerSpeechStarted,
    ScriptedConversation,
)
from switchboard.voice_gateway.ports.media_socket import InMemoryMediaSocket
from switchboard.voice_gateway.session.registry import SessionReaper
from tests.support.log_capture import capture_logs
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.wiring import Core, wired_core


class TimedSocket(InMemoryMediaSocket):
    def __init__(self) -> None:
        super().__init__()
        self.media_sent_at: list[float] = []

    def send_text_now(self, text: str) -> None:  # send_text sends through it too
        if text.startswith('{"event":"media"'):
            self.media_sent_at.append(time.monotonic())
        super().send_text_now(text)


async def answer(
    core: Core, socket: InMemoryMediaSocket, call_sid: str = "CA1"
) -> ScriptedConversation:
    """Connect a call and return its scripted AI conversation."""
    socket.feed(twilio.connected())
    socket.feed(twilio.start(call_sid))
    socket.feed(twilio.media(2, call_sid=call_sid))
    core.ai.opened.clear()
    await asyncio.wait_for(core.ai.opened.wait(), 5)
    conversation = core.ai.conversations[-1]
    await asyncio.wait_for(conversation.heard_caller.wait(), 5)
    return conversation


def sent_events(socket: InMemoryMediaSocket, kind: str) -> list[dict]:
    return [m for m in map(json.loads, socket.sent) if m["event"] == kind]


async def test_a_call_publishes_started_then_ended_with_its_transcript(core: Core) -> None:
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    conversation.emit(AgentText("i1", "Hi there"))
    conversation.emit(AgentAudio("i1", b"\x00" * 800))
    conversation.emit(AnswerDone("i1"))
    await socket.wait_sent('"event":"media"')
    socket.feed(twilio.stop(3))

    assert await asyncio.wait_for(call, 5) == "caller_hung_up"
    started, ended = core.events.events
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert (ended.call_sid, ended.business_id, ended.end_reason) == ("CA1", 7, "caller_hung_up")
    assert [(t.role, t.text) for t in ended.transcript] == [("agent", "Hi there")]
    assert conversation.said == ["Hello from Acme Dental."]
    assert core.recorder.started == [
        ("CA1", "https://gw.example.com/twilio/voice/recording?business_id=7")
    ]
    assert socket.closed_with is not None


async def test_agent_audio_goes_out_one_20_ms_frame_every_20_ms_with_marks(core: Core) -> None:
    socket = TimedSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    conversation.emit(AgentAudio("i1", b"\x00" * 160 * 25))  # 500 ms at once
    conversation.emit(AnswerDone("i1"))
    await socket.wait_until(lambda _: len(socket.media_sent_at) >= 25)

    span = socket.media_sent_at[-1] - socket.media_sent_at[0]
    assert 0.40 <= span <= 0.70
    marks = [m["mark"]["name"] for m in sent_events(socket, "mark")]
    assert marks == [PlaybackMark("i1", ms).name for ms in (100, 200, 300, 400, 500)]
    socket.feed(twilio.stop(3))
    await asyncio.wait_for(call, 5)


class TaskPacedSocket(TimedSocket):
    """A socket that only sends with ``await send_text`` (as Starlette's does)."""

    sends_now = False

    async def send_text(self, text: str) -> None:
        self.send_text_now(text)


async def test_a_socket_that_cannot_send_now_gets_the_same_frames_from_a_task_per_call(
    core: Core,
) -> None:
    socket = TaskPacedSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    conversation.emit(AgentAudio("i1", b"\x00" * 160 * 25))
    conversation.emit(AnswerDone("i1"))
    await socket.wait_until(lambda _: len(socket.media_sent_at) >= 25)

    span = socket.media_sent_at[-1] - socket.media_sent_at[0]
    assert 0.40 <= span <= 0.70
    marks = [m["mark"]["name"] for m in sent_events(socket, "mark")]
    assert marks == [PlaybackMark("i1", ms).name for ms in (100, 200, 300, 400, 500)]
    socket.feed(twilio.stop(3))
    await asyncio.wait_for(call, 5)


async def test_barge_in_clears_twilio_and_cuts_the_answer_at_the_last_played_mark(
    core: Core,
) -> None:
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    conversation.emit(AgentText("i1", "one two three four five six seven eight nine ten"))
    conversation.emit(AgentAudio("i1", b"\x00" * 8000))  # one second
    await socket.wait_sent(PlaybackMark("i1", 400).name)
    socket.feed(twilio.mark(3, PlaybackMark("i1", 100).name))
    socket.feed(twilio.mark(4, PlaybackMark("i1", 300).name))
    await asyncio.sleep(0)
    conversation.emit(CallerSpeechStarted())
    await socket.wait_sent('"event":"clear"')
    media_when_cleared = len(sent_events(socket, "media"))
    socket.feed(twilio.mark(5, PlaybackMark("i1", 400).name))  # echo of cleared audio
    socket.feed(twilio.stop(6))
    await asyncio.wait_for(call, 5)

    assert conversation.interruptions == [("i1", 300)]
    assert len(sent_events(socket, "media")) == media_when_cleared
    ended = core.events.of_type("call.ended")[0]
    assert isinstance(ended, CallEnded)
    assert [t.text for t in ended.transcript] == ["one two three…"]


@pytest.mark.parametrize(
    ("bad_message", "why"),
    [
        ("{this is not json", "malformed"),
        (twilio.media(9) + " " * 70_000, "oversized"),
        (twilio.media(1), "out of order"),
    ],
)
async def test_a_bad_message_ends_only_its_own_call(core: Core, bad_message: str, why: str) -> None:
    good, bad = InMemoryMediaSocket(), InMemoryMediaSocket()
    good_call = asyncio.create_task(core.handler.handle(good))
    await answer(core, good, "CA1")
    bad_call = asyncio.create_task(core.handler.handle(bad))
    await answer(core, bad, "CA2")
    bad.feed(bad_message)

    assert await asyncio.wait_for(bad_call, 5) == "protocol_error", why
    assert not good_call.done()
    good.feed(twilio.media(3))
    good.feed(twilio.stop(4))
    assert await asyncio.wait_for(good_call, 5) == "caller_hung_up"
    reasons = {e.call_sid: e.end_reason for e in core.events.of_type("call.ended")}  # type: ignore[attr-defined]
    assert reasons == {"CA1": "caller_hung_up", "CA2": "protocol_error"}


async def test_a_stream_with_a_forged_token_is_closed_before_any_call_starts(core: Core) -> None:
    socket = InMemoryMediaSocket()
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA1", token="forged.token"))

    assert await asyncio.wait_for(core.handler.handle(socket), 5) == "invalid_token"
    assert socket.closed_with == (1008, "invalid token")
    assert core.events.events == []


async def test_a_silent_caller_is_prompted_then_hung_up_on(core: Core) -> None:
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    await core.clock.advance(10.5)
    assert conversation.said[-1] == "Are you still there?"
    await core.clock.advance(10.5)
    assert conversation.said[-1] == "Thank you for calling. Goodbye."
    await core.clock.advance(11)

    assert await asyncio.wait_for(call, 5) == "silence_timeout"


async def test_the_reaper_ends_a_session_whose_socket_went_quiet(core: Core) -> None:
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    await answer(core, socket)
    reaper = SessionReaper(core.services.registry, core.clock, timeout_s=5, interval_s=1)
    assert reaper.reap_once() == []
    core.clock._now += 6  # no messages for six seconds (the watchdog is not woken)

    assert reaper.reap_once() == ["CA1"]
    assert await asyncio.wait_for(call, 5) == "socket_dead"


@pytest.mark.parametrize("delivers", [True, False], ids=["delivered", "awaited"])
async def test_caller_audio_is_handled_in_order_whether_delivered_or_awaited(
    core: Core, delivers: bool
) -> None:
    socket = InMemoryMediaSocket(delivers=delivers)
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    frames = [bytes([0x80 + n]) * 160 for n in range(3, 9)]
    for sequence, payload in enumerate(frames, start=3):
        socket.feed(twilio.media(sequence, payload))
    socket.feed(twilio.stop(9))

    assert await asyncio.wait_for(call, 5) == "caller_hung_up"
    assert conversation.received_audio[1:] == frames
    # Delivered: the frames fed after the call was up went straight to the session.
    assert (socket.delivered >= len(frames) + 1) is delivers


async def test_a_message_delivered_as_it_arrives_that_breaks_the_protocol_ends_the_call(
    core: Core,
) -> None:
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)
    delivered = socket.delivered
    socket.feed(twilio.media(2))  # a sequence number seen before
    socket.feed(twilio.media(3))  # after the error: not handled

    assert await asyncio.wait_for(call, 5) == "protocol_error"
    assert socket.delivered == delivered + 1
    assert socket.closed_with is not None and socket.closed_with[0] == 1008
    assert "out of order" in socket.closed_with[1]
    assert len(conversation.received_audio) == 1


def _twilio_media(sequence: int, stream_sid: str) -> str:
    """Caller audio byte for byte as Twilio writes it (the session's short path)."""
    payload = base64.b64encode(twilio.SILENCE).decode()
    return (
        f'{{"event":"media","sequenceNumber":"{sequence}","media":{{"track":"inbound",'
        f'"chunk":"{sequence}","timestamp":"{sequence * 20}","payload":"{payload}"}},'
        f'"streamSid":"{stream_sid}"}}'
    )


def _without_stream_sid(text: str) -> str:
    message = json.loads(text)
    del message["streamSid"]
    return json.dumps(message)


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        (_twilio_media(4, "MZCA2"), "CallerAudio of another stream"),
        (twilio.media(4, call_sid="CA2"), "CallerAudio of another stream"),
        (_without_stream_sid(twilio.media(4)), "CallerAudio without streamSid"),
    ],
    ids=["as-twilio-writes-it", "laid-out-otherwise", "naming-none"],
)
async def test_audio_naming_another_stream_or_none_never_reaches_the_ai_and_ends_the_call(
    core: Core, other: str, reason: str
) -> None:
    counted = REGISTRY.get_sample_value(
        "switchboard_gateway_protocol_errors_total", {"reason": "wrong_stream_sid"}
    )
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    conversation = await answer(core, socket)  # frame 2, of stream MZCA1
    socket.feed(_twilio_media(3, "MZCA1"))
    socket.feed(other)
    socket.feed(_twilio_media(5, "MZCA1"))  # after the error: not handled

    assert await asyncio.wait_for(call, 5) == "protocol_error"
    assert socket.closed_with == (1008, reason)
    assert len(conversation.received_audio) == 2  # frames 2 and 3, not the other stream's
    assert (
        REGISTRY.get_sample_value(
            "switchboard_gateway_protocol_errors_total", {"reason": "wrong_stream_sid"}
        )
        == (counted or 0) + 1
    )
    (ended,) = core.events.of_type("call.ended")  # type: ignore[attr-defined]
    assert ended.end_reason == "protocol_error"


class WriteRecordingSocket(InMemoryMediaSocket):
    """Records each write: the media frames it carried and when."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, int]] = []

    def _record(self, texts: list[str]) -> None:
        media = sum(1 for text in texts if text.startswith('{"event":"media"'))
        if media:
            self.writes.append((time.monotonic(), media))

    def send_text_now(self, text: str) -> None:
        self._record([text])
        super().send_text_now(text)

    def send_texts_now(self, texts: list[str]) -> None:
        self._record(texts)
        for text in texts:
            super().send_text_now(text)


async def test_two_frames_per_write_go_out_together_every_40_ms() -> None:
    async with wired_core(frames_per_tick=2) as core:
        socket = WriteRecordingSocket()
        call = asyncio.create_task(core.handler.handle(socket))
        conversation = await answer(core, socket)
        conversation.emit(AgentAudio("i1", b"\x00" * 160 * 24))  # 480 ms at once
        conversation.emit(AnswerDone("i1"))
        await socket.wait_until(lambda _: sum(n for _, n in socket.writes) >= 24)

        assert [n for _, n in socket.writes] == [2] * 12
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(socket.writes)]
        assert all(0.025 <= gap <= 0.060 for gap in gaps[1:]), gaps  # after the idle line's
        marks = [m["mark"]["name"] for m in sent_events(socket, "mark")]
        assert marks == [PlaybackMark("i1", ms).name for ms in (100, 200, 300, 400, 480)]
        socket.feed(twilio.stop(3))
        await asyncio.wait_for(call, 5)


async def test_the_keys_a_caller_presses_never_reach_a_log_line(core: Core) -> None:
    # A card number or a PIN typed on the keypad is the caller's, not the operator's.
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    with capture_logs() as logs:
        await answer(core, socket)
        for sequence, digit in enumerate("4929", start=3):
            socket.feed(twilio.dtmf(sequence, digit))
        socket.feed(twilio.stop(7))
        assert await asyncio.wait_for(call, 5) == "caller_hung_up"

    assert len([line for line in logs if line["event"] == "dtmf"]) == 4
    assert not any("digit" in line for line in logs), logs
