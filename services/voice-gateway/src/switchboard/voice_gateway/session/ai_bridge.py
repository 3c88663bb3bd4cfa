"""The AI bridge: what the provider says goes to the transmit buffer, what it hears to the
watchdog and transcript; barge-in cuts the agent off at what the caller actually heard.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from switchboard.common.events import utc_now
from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.codecs import SAMPLE_RATE
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
from switchboard.voice_gateway.ports.transcriber import Transcription

if TYPE_CHECKING:
    from switchboard.voice_gateway.session.call_session import CallSession

log = get_logger(__name__)


class AIBridge:
    """Follows one conversation's events on behalf of its call session."""

    def __init__(self, session: CallSession, conversation: AIConversation) -> None:
        self._session = session
        self._conversation = conversation
        self._answer_ms: dict[str, int] = {}
        self._answer_started: dict[str, datetime] = {}
        self._in_flight: list[str] = []  # answers queued or playing, oldest first
        self._interrupted: set[str] = set()
        self._speech_started_at: datetime | None = None
        self._speech_started_t = 0.0
        self._has_caller_text = conversation.transcribes_caller or (
            session.transcription is not None
        )

    async def follow(self) -> None:
        """Handle provider events until the conversation ends."""
        session = self._session
        async for event in self._conversation.events():
            kind = type(event)
            if kind is AgentAudio:
                self._agent_audio(event)  # type: ignore[arg-type]
            elif kind is AgentText:
                self._agent_text(event)  # type: ignore[arg-type]
            elif kind is AnswerDone:
                if event.item_id not in self._interrupted:  # type: ignore[union-attr]
                    session.tx.finish()
            elif kind is CallerSpeechStarted:
                await self._caller_started()
            elif kind is CallerSpeechStopped:
                self._caller_stopped()
            elif kind is CallerText:
                at = self._speech_started_at or utc_now()
                session.transcript.caller_said(event.text, at)  # type: ignore[union-attr]
            elif kind is ProviderFailed:
                log.error("ai_provider_failed", call_sid=session.call_sid, reason=event.reason)  # type: ignore[union-attr]
                session.end("ai_error")
                return
        session.end("ai_closed")

    async def follow_transcripts(self, transcription: Transcription) -> None:
        """Record the speech-to-text results as caller turns."""
        async for text in transcription.transcripts():
            self._session.transcript.caller_said(text, self._speech_started_at or utc_now())

    def _agent_audio(self, event: AgentAudio) -> None:
        item_id = event.item_id
        if item_id in self._interrupted:
            return
        session = self._session
        if item_id not in self._answer_ms:
            self._answer_ms[item_id] = 0
            self._answer_started[item_id] = utc_now()
            self._in_flight.append(item_id)
        self._answer_ms[item_id] += len(event.payload) * 1000 // SAMPLE_RATE
        dropped = session.tx.dropped
        session.tx.add_audio(item_id, event.payload)
        if session.tx.dropped > dropped:
            metrics.FRAMES_DROPPED.inc(session.tx.dropped - dropped)
        if session.hanging_up:
            session.goodbye_queued = True
        session.tx_ready.set()

    def _agent_text(self, event: AgentText) -> None:
        if event.item_id in self._interrupted:
            return
        session = self._session
        at = self._answer_started.setdefault(event.item_id, utc_now())
        session.transcript.agent_said(event.item_id, event.text, at)
        session.tx.add_text(event.item_id, event.text)

    async def _caller_started(self) -> None:
        session = self._session
        session.watchdog.activity(session.services.clock.now())
        self._speech_started_at = utc_now()
        self._speech_started_t = session.services.clock.now()
        if session.agent_speaking and not session.hanging_up:
            await self._barge_in()

    def _caller_stopped(self) -> None:
        session = self._session
        now = session.services.clock.now()
        session.watchdog.activity(now)
        if not self._has_caller_text and self._speech_started_at is not None:
            spoke_s = now - self._speech_started_t
            session.transcript.caller_said(f"[speech, {spoke_s:.1f} s]", self._speech_started_at)

    async def _barge_in(self) -> None:
        """Stop the agent: clear Twilio's buffer and ours, cut answers at what was heard."""
        session = self._session
        metrics.BARGE_INS.inc()
        await session.send_clear()
        for item_id in self._in_flight:
            played_ms = session.tracker.interrupt(item_id)
            total_ms = self._answer_ms.get(item_id, 0)
            self._interrupted.add(item_id)
            if played_ms >= total_ms:
                continue  # heard in full before the caller spoke
            session.transcript.agent_interrupted(item_id, played_ms, total_ms)
            log.info("barge_in", call_sid=session.call_sid, item_id=item_id, played_ms=played_ms)
            await self._conversation.interrupted(item_id, played_ms)
        self._in_flight.clear()
