"""The AI bridge: what the provider says goes to playback, what it hears to the watchdog
and transcript; barge-in cuts the agent off at what the caller actually heard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from switchboard.common.events import utc_now
from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.codecs import SAMPLE_RATE
from switchboard.voice_gateway.domain.transcript import Transcript
from switchboard.voice_gateway.domain.watchdog import CallWatchdog
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AIConversation,
    AnswerDone,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerText,
    ProviderFailed,
)
from switchboard.voice_gateway.ports.clock import Clock
from switchboard.voice_gateway.ports.transcriber import Transcription

log = get_logger(__name__)


class Playback(Protocol):
    """What the bridge needs of the call's outgoing audio (``AgentPlayback`` has it)."""

    @property
    def speaking(self) -> bool:
        """True while agent audio is queued or not yet played."""

    @property
    def saying_goodbye(self) -> bool:
        """True once the call is hanging up after a goodbye."""

    def queue_audio(self, item_id: str, payload: bytes) -> None:
        """Queue audio of answer ``item_id``."""

    def queue_text(self, item_id: str, text: str) -> None:
        """Queue the words of answer ``item_id``."""

    def finish_answer(self) -> None:
        """The current answer is complete."""

    async def clear(self) -> None:
        """Drop every queued and buffered piece of agent audio."""

    def cut(self, item_id: str) -> int:
        """Cut answer ``item_id`` at what was heard; returns the milliseconds heard."""


class AIBridge:
    """Follows one conversation's events on behalf of its call."""

    def __init__(
        self,
        conversation: AIConversation,
        playback: Playback,
        transcript: Transcript,
        watchdog: CallWatchdog,
        clock: Clock,
        *,
        call_sid: str,
        end: Callable[[str], None],
        caller_stt: bool,
        provider: str = "ai",
    ) -> None:
        self._conversation = conversation
        self._playback = playback
        self._transcript = transcript
        self._watchdog = watchdog
        self._clock = clock
        self._call_sid = call_sid
        self._end = end
        self._answer_ms: dict[str, int] = {}
        self._answer_started: dict[str, datetime] = {}
        self._in_flight: list[str] = []  # answers queued or playing, oldest first
        self._interrupted: set[str] = set()
        self._speech_started_at: datetime | None = None
        self._speech_started_t = 0.0
        self._has_caller_text = conversation.transcribes_caller or caller_stt
        self._barge_in_latency = metrics.BARGE_IN_LATENCY.labels(provider=provider)

    async def follow(self) -> None:
        """Handle provider events until the conversation ends."""
        async for event in self._conversation.events():
            match event:
                case AgentAudio():
                    self._agent_audio(event)
                case AgentText():
                    self._agent_text(event)
                case AnswerDone(item_id=item_id):
                    if item_id not in self._interrupted:
                        self._playback.finish_answer()
                case CallerSpeechStarted():
                    await self._caller_started()
                case CallerSpeechStopped():
                    self._caller_stopped()
                case CallerText(text=text):
                    self._transcript.caller_said(text, self._speech_started_at or utc_now())
                case ProviderFailed(reason=reason):
                    log.error("ai_provider_failed", call_sid=self._call_sid, reason=reason)
                    self._end("ai_error")
                    return
        self._end("ai_closed")

    async def follow_transcripts(self, transcription: Transcription) -> None:
        """Record the speech-to-text results as caller turns."""
        async for text in transcription.transcripts():
            self._transcript.caller_said(text, self._speech_started_at or utc_now())

    def _agent_audio(self, event: AgentAudio) -> None:
        item_id = event.item_id
        if item_id in self._interrupted:
            return
        if item_id not in self._answer_ms:
            self._answer_ms[item_id] = 0
            self._answer_started[item_id] = utc_now()
            self._in_flight.append(item_id)
        self._answer_ms[item_id] += len(event.payload) * 1000 // SAMPLE_RATE
        self._playback.queue_audio(item_id, event.payload)

    def _agent_text(self, event: AgentText) -> None:
        if event.item_id in self._interrupted:
            return
        at = self._answer_started.setdefault(event.item_id, utc_now())
        self._transcript.agent_said(event.item_id, event.text, at)
        self._playback.queue_text(event.item_id, event.text)

    async def _caller_started(self) -> None:
        heard_at = time.monotonic()
        now = self._clock.now()
        self._watchdog.activity(now)
        self._speech_started_at = utc_now()
        self._speech_started_t = now
        playback = self._playback
        if playback.speaking and not playback.saying_goodbye:
            await self._barge_in(heard_at)

    def _caller_stopped(self) -> None:
        now = self._clock.now()
        self._watchdog.activity(now)
        if not self._has_caller_text and self._speech_started_at is not None:
            spoke_s = now - self._speech_started_t
            self._transcript.caller_said(f"[speech, {spoke_s:.1f} s]", self._speech_started_at)

    async def _barge_in(self, heard_at: float) -> None:
        """Stop the agent: clear Twilio's buffer and ours, cut answers at what was heard."""
        metrics.BARGE_INS.inc()
        await self._playback.clear()
        self._barge_in_latency.observe(time.monotonic() - heard_at)
        for item_id in self._in_flight:
            played_ms = self._playback.cut(item_id)
            total_ms = self._answer_ms.get(item_id, 0)
            self._interrupted.add(item_id)
            if played_ms >= total_ms:
                continue  # heard in full before the caller spoke
            self._transcript.agent_interrupted(item_id, played_ms, total_ms)
            log.info("barge_in", call_sid=self._call_sid, item_id=item_id, played_ms=played_ms)
            await self._conversation.interrupted(item_id, played_ms)
        self._in_flight.clear()
