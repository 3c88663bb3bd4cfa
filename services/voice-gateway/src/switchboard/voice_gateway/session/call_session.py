"""One live call as asyncio tasks: receive, paced transmit, AI bridge, watchdog.

The session never blocks the event loop and never owns a thread; whatever goes wrong in
one call (bad message, dead socket, provider failure) ends that call with a reason and
still publishes its ``call.ended`` event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from switchboard.common.events import CallEnded, CallStarted, EventBase, utc_now
from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.domain.frames import (
    CallerAudio,
    Dtmf,
    InboundFrame,
    MarkPlayed,
    ProtocolError,
    SequenceGuard,
    StreamStart,
    StreamStop,
)
from switchboard.voice_gateway.domain.media_token import StreamClaims
from switchboard.voice_gateway.domain.transcript import Transcript
from switchboard.voice_gateway.domain.watchdog import CallWatchdog, WatchdogAction
from switchboard.voice_gateway.ports.ai import (
    AIConversation,
    AIProvider,
    CallContext,
    ProviderUnavailable,
    provider_name,
)
from switchboard.voice_gateway.ports.clock import Clock
from switchboard.voice_gateway.ports.event_publisher import EventPublisher
from switchboard.voice_gateway.ports.media_socket import MediaSocket, SocketClosed
from switchboard.voice_gateway.ports.recorder import CallRecorder, RecordingFailed
from switchboard.voice_gateway.ports.transcriber import Transcriber, Transcription
from switchboard.voice_gateway.session.agent_playback import AgentPlayback
from switchboard.voice_gateway.session.ai_bridge import AIBridge
from switchboard.voice_gateway.session.registry import SessionRegistry
from switchboard.voice_gateway.session.ticker import FrameTicker
from switchboard.voice_gateway.twilio.serializer import TwilioMediaSerializer

log = get_logger(__name__)

#: After asking the agent to say goodbye, end the call at the latest this much later.
_GOODBYE_GRACE_S = 10.0
#: The close code for a stream that broke the protocol.
_POLICY_VIOLATION = 1008


@dataclass
class SessionServices:
    """What every session of the process shares."""

    settings: GatewaySettings
    public_base_url: str
    publisher: EventPublisher
    ai: AIProvider
    transcriber: Transcriber | None
    recorder: CallRecorder | None
    clock: Clock
    ticker: FrameTicker
    registry: SessionRegistry
    serializer: TwilioMediaSerializer


class CallSession:
    """A call's media stream, from the validated ``start`` message to ``call.ended``."""

    def __init__(
        self,
        services: SessionServices,
        socket: MediaSocket,
        start: StreamStart,
        claims: StreamClaims,
        config: AgentConfig,
        guard: SequenceGuard,
        *,
        conversation: AIConversation | None = None,
        started_at: float | None = None,
    ) -> None:
        """``conversation``: the provider session opened while the phone rang (else one is
        opened now); ``started_at``: when ``start`` arrived (``time.monotonic``)."""
        self.services = services
        self.socket = socket
        self.claims = claims
        self.config = config
        self.call_sid = start.call_sid
        self.stream_sid = start.stream_sid
        self.started_at = utc_now()
        clock = services.clock
        self._t0 = clock.now()
        self.last_message_at = self._t0
        self.end_reason: str | None = None
        #: What broke the protocol, sent back in the close frame (1008).
        self._protocol_error: str | None = None
        self._receiving_done = False  # a stop or a protocol error was handled
        self._ended = asyncio.Event()
        self._finished = asyncio.Event()
        self._guard = guard
        settings = services.settings
        self.playback = AgentPlayback(
            socket,
            self.stream_sid,
            services.serializer.clear(self.stream_sid),
            max_frames=int(settings.max_tx_buffer_s * 50),
            mark_every_ms=settings.mark_every_ms,
            greeting_from=(started_at or time.monotonic()) if config.greeting else None,
        )
        self.transcript = Transcript()
        self.watchdog = CallWatchdog(
            started_at=self._t0,
            silence_timeout_s=config.silence_timeout_s or settings.default_silence_timeout_s,
            max_call_s=config.max_call_seconds,
        )
        self.conversation: AIConversation | None = conversation
        self.transcription: Transcription | None = None
        self._hang_up_reason: str | None = None
        self._hang_up_at = 0.0
        self._background: set[asyncio.Task[Any]] = set()
        self._started_publish: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def end(self, reason: str) -> None:
        """End the call (the first reason given wins)."""
        if self.end_reason is None and not self._finished.is_set():
            self.end_reason = reason
            self._ended.set()

    async def wait_ended(self) -> None:
        """Wait until the session has ended and its ``call.ended`` event is out."""
        await self._finished.wait()

    async def run(self) -> str:
        """Run the call until it ends; returns the end reason."""
        services = self.services
        services.registry.add(self)
        metrics.ACTIVE_CALLS.inc()
        self._started_publish = self._spawn(self._publish(self._started_event()))
        if self.config.recording_enabled and services.recorder is not None:
            self._spawn(self._start_recording(services.recorder))
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._open_conversation()
            if self.conversation is not None:
                bridge = AIBridge(
                    self.conversation,
                    self.playback,
                    self.transcript,
                    self.watchdog,
                    services.clock,
                    call_sid=self.call_sid,
                    end=self.end,
                    caller_stt=self.transcription is not None,
                    provider=provider_name(self.conversation, services.ai),
                )
                tasks = [
                    self._guarded(self._receive(), "receive"),
                    self._guarded(self.playback.transmit(services.ticker), "transmit"),
                    self._guarded(bridge.follow(), "ai"),
                    self._guarded(self._watch(), "watchdog"),
                ]
                if self.transcription is not None:
                    tasks.append(
                        self._guarded(bridge.follow_transcripts(self.transcription), "stt")
                    )
                if self.config.greeting:
                    await self.conversation.say(self.config.greeting)
                await self._ended.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await self._release()
            finally:
                services.registry.remove(self)
                metrics.ACTIVE_CALLS.dec()
                metrics.CALLS_ENDED.labels(reason=self.end_reason or "unknown").inc()
                await self._publish_ended()
                self._finished.set()
        return self.end_reason or "unknown"

    async def _open_conversation(self) -> None:
        call = CallContext(
            self.call_sid, self.claims.direction, self.claims.from_number, self.claims.to_number
        )
        if self.conversation is None:
            try:
                self.conversation = await self.services.ai.open(self.config, call)
            except ProviderUnavailable as exc:
                log.error("ai_provider_unavailable", call_sid=self.call_sid, error=str(exc))
                self.end("ai_unavailable")
                return
        self.playback.label(provider_name(self.conversation, self.services.ai))
        transcriber = self.services.transcriber
        if not self.conversation.transcribes_caller and transcriber is not None:
            self.transcription = await transcriber.start(self.config.language)

    async def _release(self) -> None:
        for closable in (self.conversation, self.transcription):
            if closable is not None:
                try:
                    await asyncio.wait_for(closable.close(), 5)
                except (TimeoutError, OSError, ProviderUnavailable) as exc:
                    log.warning("session_close_failed", call_sid=self.call_sid, error=repr(exc))
        if self._protocol_error is not None:
            await self.socket.close(_POLICY_VIOLATION, self._protocol_error)
        else:
            await self.socket.close(1000, self.end_reason or "")

    def _guarded(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await work
            except SocketClosed:
                self.end("socket_closed")
            except Exception:  # a bug in one call must end that call, not the process
                log.exception("session_task_failed", call_sid=self.call_sid, task=name)
                self.end(f"internal_error:{name}")

        return asyncio.create_task(guarded(), name=f"call-{name}")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- receive ---------------------------------------------------------------------

    async def _receive(self) -> None:
        """Handle Twilio's messages until the stream stops or breaks the protocol.

        Where the socket delivers text as it arrives (``MediaSocket.deliver_text``), each
        message is handled right there, with no task woken for it; this task then only
        handles what the socket queues (messages that came before, the close).
        """
        socket = self.socket
        handle = self._text_handler()
        socket.deliver_text(handle)
        try:
            while handle(await socket.receive_text()):
                pass
        finally:
            socket.deliver_text(None)

    def _text_handler(self) -> Callable[[str], bool]:
        """The function that handles one message from Twilio; False once the stream is over
        (stopped, broke the protocol, or a bug: the call ends, as ``_guarded`` ends it)."""
        serializer, guard, clock = self.services.serializer, self._guard, self.services.clock
        conversation, transcription = self.conversation, self.transcription
        assert conversation is not None
        push = conversation.push_caller_audio
        frames_in = metrics.FRAMES_IN
        plain_audio, next_audio = serializer.plain_audio, guard.next_audio

        def handle(text: str) -> bool:
            if self._receiving_done:
                return False
            self.last_message_at = clock.now()
            try:
                # The usual message, the next caller frame of this stream, without building
                # a frame (audio naming another stream is refused by ``check``).
                plain = plain_audio(text)
                if plain is not None and next_audio(plain[0], plain[3]):
                    payload = plain[2]
                else:
                    frame = serializer.deserialize(text)
                    guard.check(frame)
                    if type(frame) is not CallerAudio:
                        return self._other_frame(frame)
                    payload = frame.payload
                frames_in.inc()
                push(payload)
                if transcription is not None:
                    transcription.push_audio(payload)
                return True
            except ProtocolError as exc:
                self._receiving_done = True
                metrics.PROTOCOL_ERRORS.labels(reason=exc.kind).inc()
                log.warning("media_protocol_error", call_sid=self.call_sid, reason=exc.reason)
                if self.end_reason is None:
                    self._protocol_error = exc.reason
                self.end("protocol_error")
            except Exception:  # a bug in one call must end that call, not the process
                self._receiving_done = True
                log.exception("session_task_failed", call_sid=self.call_sid, task="receive")
                self.end("internal_error:receive")
            return False

        return handle

    def _other_frame(self, frame: InboundFrame) -> bool:
        match frame:
            case MarkPlayed(name=name):
                self._mark_played(name)
            case StreamStop():
                self._receiving_done = True
                self.end("caller_hung_up")
                return False
            case Dtmf():
                # Not the key: a PIN or a card number typed on the keypad is the caller's.
                log.info("dtmf", call_sid=self.call_sid)
        return True

    def _mark_played(self, name: str) -> None:
        playback = self.playback
        playback.mark_played(name)
        if not playback.speaking:
            self.watchdog.agent_finished(self.services.clock.now())
            if self._hang_up_reason is not None and playback.goodbye_queued:
                self.end(self._hang_up_reason)

    # -- watchdog --------------------------------------------------------------------

    async def _watch(self) -> None:
        clock, settings = self.services.clock, self.services.settings
        conversation = self.conversation
        assert conversation is not None
        while True:
            await clock.sleep(settings.watchdog_interval_s)
            now = clock.now()
            if self._hang_up_reason is not None:
                if now >= self._hang_up_at:
                    self.end(self._hang_up_reason)
                continue
            action = self.watchdog.check(now, agent_speaking=self.playback.speaking)
            if action is WatchdogAction.PROMPT_SILENT_CALLER:
                log.info("silent_caller_prompted", call_sid=self.call_sid)
                await conversation.say(settings.silence_prompt)
            elif action is not None:
                log.info("call_hang_up", call_sid=self.call_sid, reason=action.value)
                self._hang_up_reason = action.value
                self._hang_up_at = now + _GOODBYE_GRACE_S
                self.playback.begin_goodbye()
                await conversation.say(settings.goodbye)

    # -- events ----------------------------------------------------------------------

    def _started_event(self) -> CallStarted:
        claims = self.claims
        return CallStarted(
            business_id=claims.business_id,
            call_sid=self.call_sid,
            stream_sid=self.stream_sid,
            direction="outbound" if claims.direction == "outbound" else "inbound",
            from_number=claims.from_number,
            to_number=claims.to_number,
            started_at=self.started_at,
            run_id=claims.run_id,
            item_id=claims.item_id,
        )

    async def _publish_ended(self) -> None:
        if self._started_publish is not None:
            await asyncio.gather(self._started_publish, return_exceptions=True)
        started = self._started_event()
        ended = CallEnded(
            **started.model_dump(include={"business_id", "call_sid", "stream_sid", "direction"}),
            from_number=started.from_number,
            to_number=started.to_number,
            started_at=self.started_at,
            ended_at=utc_now(),
            duration_s=round(self.services.clock.now() - self._t0, 3),
            end_reason=self.end_reason or "unknown",
            transcript=self.transcript.turns(),
            run_id=started.run_id,
            item_id=started.item_id,
        )
        await self._publish(ended)
        log.info("call_ended", call_sid=self.call_sid, reason=ended.end_reason)

    async def _publish(self, event: EventBase) -> None:
        try:
            await self.services.publisher.publish(event)
        except OSError as exc:  # the spool's disk failed too: nothing left but the log
            log.error("event_lost", type=event.type, event_id=event.event_id, error=repr(exc))

    async def _start_recording(self, recorder: CallRecorder) -> None:
        url = (
            f"{self.services.public_base_url.rstrip('/')}/twilio/voice/recording"
            f"?business_id={self.claims.business_id}"
        )
        try:
            sid = await recorder.start_recording(self.call_sid, url)
        except RecordingFailed as exc:
            log.warning("recording_not_started", call_sid=self.call_sid, error=str(exc))
            return
        log.info("recording_started", call_sid=self.call_sid, recording_sid=sid)
