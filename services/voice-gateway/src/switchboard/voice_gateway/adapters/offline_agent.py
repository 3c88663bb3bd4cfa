"""The offline agent: answers callers with real (synthesized) audio and no network at all.

It listens with a cheap energy detector, and once the caller has been quiet for a moment
after speaking, it answers with speech-like μ-law audio, streamed word by word like a
streaming TTS would. It cannot understand words, so it never claims to: its answers are
polite, generic, and say that it is the offline assistant.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.domain.codecs import FRAME_MS, loud_sample_table
from switchboard.voice_gateway.domain.speech import iter_speech_ulaw
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AIConversation,
    AIEvent,
    AIProvider,
    AnswerDone,
    CallContext,
    CallerSpeechStarted,
    CallerSpeechStopped,
)

#: A sample louder than this (of 32767) counts as sound; a frame with enough of them as voice.
_LOUD = loud_sample_table(900)
_VOICED_SAMPLES = 24
_FRAMES_TO_START = 3
_MIN_UTTERANCE_MS = 200

_REPLIES = (
    "Thank you. I am the offline assistant for {business}. Could you tell me a bit more?",
    "I see. Someone from {business} will follow up with you about that. Anything else?",
    "Thanks for letting me know. Is there anything else I can help you with today?",
)


class OfflineConversation(AIConversation):
    """One call's offline agent: energy-based turn taking and synthesized answers."""

    transcribes_caller = False
    provider_name = "offline"

    def __init__(self, config: AgentConfig, end_of_speech_ms: int) -> None:
        self._config = config
        self._silence_frames_to_stop = max(1, end_of_speech_ms // FRAME_MS)
        self._events: asyncio.Queue[AIEvent | None] = asyncio.Queue()
        self._voiced_run = 0
        self._silent_run = 0
        self._speech_frames = 0
        self._in_speech = False
        self._answers = itertools.count(1)
        self._replies = itertools.cycle(_REPLIES)
        self._speaking: asyncio.Task[None] | None = None

    def push_caller_audio(self, payload: bytes) -> None:
        """Run the voice-activity detector on one frame (a C-speed byte count)."""
        voiced = payload.translate(_LOUD).count(1) >= _VOICED_SAMPLES
        if not self._in_speech:
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= _FRAMES_TO_START:
                self._in_speech, self._silent_run = True, 0
                self._speech_frames = self._voiced_run
                self._stop_speaking()
                self._events.put_nowait(CallerSpeechStarted())
            return
        if voiced:
            self._silent_run = 0
            self._speech_frames += 1
            return
        self._silent_run += 1
        if self._silent_run >= self._silence_frames_to_stop:
            self._in_speech, self._voiced_run = False, 0
            self._events.put_nowait(CallerSpeechStopped())
            if self._speech_frames * FRAME_MS >= _MIN_UTTERANCE_MS:
                reply = next(self._replies).format(business=self._config.business_name)
                self._speak(reply)

    async def events(self) -> AsyncIterator[AIEvent]:
        """What the agent says and hears."""
        while (event := await self._events.get()) is not None:
            yield event

    async def say(self, instructions: str) -> None:
        """Say ``instructions`` word for word (greeting, silence prompt, goodbye)."""
        self._speak(instructions)

    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """Stop producing the interrupted answer."""
        self._stop_speaking()

    async def close(self) -> None:
        """End the event stream."""
        self._stop_speaking()
        self._events.put_nowait(None)

    def _speak(self, text: str) -> None:
        self._stop_speaking()
        item_id = f"offline_{next(self._answers)}"
        self._speaking = asyncio.create_task(self._produce(item_id, text), name="offline-agent")

    def _stop_speaking(self) -> None:
        if self._speaking is not None and not self._speaking.done():
            self._speaking.cancel()
        self._speaking = None

    async def _produce(self, item_id: str, text: str) -> None:
        self._events.put_nowait(AgentText(item_id, text))
        for word_audio in iter_speech_ulaw(text, self._config.voice):
            self._events.put_nowait(AgentAudio(item_id, word_audio))
            await asyncio.sleep(0)  # one word at a time keeps the loop responsive
        self._events.put_nowait(AnswerDone(item_id))


class OfflineAgentProvider(AIProvider):
    """Used when no OpenAI key is set: the whole call path runs without a network."""

    name = "offline"

    def __init__(self, end_of_speech_ms: int = 600) -> None:
        self._end_of_speech_ms = end_of_speech_ms

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """A new offline conversation."""
        return OfflineConversation(config, self._end_of_speech_ms)
