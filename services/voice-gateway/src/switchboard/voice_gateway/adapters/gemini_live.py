"""Gemini Live through the ``google-genai`` library (the Gemini API's Live websocket).

Gemini hears 16 kHz and speaks 24 kHz PCM16, so audio is converted at this edge
(``domain/resample.py``): caller μ-law is batched every 40 ms and upsampled by one sender
task, so the receive path never waits on Gemini; each answer's audio is low-passed and
decimated to 8 kHz μ-law as it arrives. Gemini's own VAD decides turns.

How Live messages become port events:
- ``modelTurn`` audio parts → ``AgentAudio``; every model turn is one answer, with its own
  item id (``gemini-1``, ``gemini-2``, …).
- ``outputTranscription`` fragments are collected per answer → one ``AgentText`` with the
  whole text, then ``AnswerDone``, at ``turnComplete``.
- ``inputTranscription`` fragments are collected → ``CallerSpeechStopped`` + ``CallerText``
  at ``turnComplete``, before the answer's text. The first fragment outside a model turn is
  also ``CallerSpeechStarted``.
- ``interrupted`` (Gemini's VAD heard the caller over the answer) → the words of the answer
  so far as ``AgentText``, then ``CallerSpeechStarted``: the bridge clears Twilio, cuts the
  transcript at what was played and calls ``interrupted``.

Gemini has no truncate call: it stops generating by itself when it sends ``interrupted``, and
its context keeps what it generated (it streams faster than real time, so that may be more
than the caller heard). ``interrupted`` therefore only drops whatever audio of the cut answer
still arrives; the call's transcript holds what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Iterator

from google import genai
from google.genai import errors, live, types
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from switchboard.common.logging import get_logger, redact
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.domain.resample import (
    DOWNSAMPLE_START,
    GEMINI_INPUT_RATE,
    pcm16_24k_to_ulaw8k,
    ulaw8k_to_pcm16_16k,
)
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
    CallerText,
    ProviderFailed,
    ProviderUnavailable,
)

log = get_logger(__name__)

#: 40 ms of caller audio per realtimeInput message: Gemini's VAD hears the caller at most
#: 40 ms late, and a call costs 25 library sends a second, not 50.
_BATCH_FRAMES = 2
#: Caller audio waiting for a slow Gemini beyond this (1 s) is dropped, oldest first.
_MAX_WAITING_BATCHES = 25
_INPUT_MIME = f"audio/pcm;rate={GEMINI_INPUT_RATE}"
_CONNECT_TIMEOUT_S = 10
_CONNECT_ERRORS = (errors.APIError, OSError, InvalidHandshake, TimeoutError, ConnectionClosed)
#: Gemini Live's prebuilt voices; an agent voice outside them (OpenAI's ``alloy``, say) leaves
#: the choice to Gemini.
GEMINI_VOICES = frozenset(
    "Achernar Achird Algenib Algieba Alnilam Aoede Autonoe Callirrhoe Charon Despina Enceladus "
    "Erinome Fenrir Gacrux Iapetus Kore Laomedeia Leda Orus Puck Pulcherrima Rasalgethi "
    "Sadachbia Sadaltager Schedar Sulafat Umbriel Vindemiatrix Zephyr Zubenelgenubi".split()
)


def live_config(config: AgentConfig, call: CallContext) -> types.LiveConnectConfig:
    """The Live session's setup for a phone call with this agent: audio out, both sides
    transcribed, the agent's prompt as system instructions."""
    number = call.from_number if call.direction == "inbound" else call.to_number
    instructions = (
        f"{config.prompt}\n\nYou are on a phone call for {config.business_name} "
        f"({call.direction}; the caller's number is {number}). "
        # Native-audio models pick the language themselves; the instructions pin it.
        f"Speak {config.language} unless the caller speaks another language."
    )
    voice = next((v for v in GEMINI_VOICES if v.lower() == config.voice.lower()), None)
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        system_instruction=instructions,
        speech_config=(
            types.SpeechConfig(
                voice_config=types.VoiceConfig(
                    prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)
                )
            )
            if voice
            else None
        ),
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
    )


def _joined(fragments: list[str]) -> str:
    """Transcription fragments carry their own spacing; normalise it."""
    return " ".join("".join(fragments).split())


class GeminiLiveConversation(AIConversation):
    """One Live session for one call."""

    name = "gemini"
    provider_name = "gemini"
    transcribes_caller = True

    def __init__(
        self,
        session: live.AsyncSession,
        connection: contextlib.AbstractAsyncContextManager[live.AsyncSession],
    ) -> None:
        self._session = session
        self._connection = connection  # the library's ``connect()`` context, entered
        self._pending = bytearray()
        self._pending_frames = 0
        self._pending_since = 0.0  # when the batch's first frame came
        self._outbox: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self._latency = metrics.CALLER_AUDIO_LATENCY.labels(provider=self.provider_name)
        self._dropped = metrics.CALLER_FRAMES_DROPPED.labels(provider=self.provider_name)
        self._sender = asyncio.create_task(self._send_audio(), name="gemini-audio-sender")
        self._closing = False
        self._turns = itertools.count(1)
        self._item_id: str | None = None  # the answer being received
        self._downsample = DOWNSAMPLE_START
        self._agent_words: list[str] = []
        self._caller_words: list[str] = []
        self._caller_speaking = False  # speech start reported for the caller's current turn
        self._cut: set[str] = set()

    def push_caller_audio(self, payload: bytes) -> None:
        """Batch caller audio; every 40 ms the sender task converts and sends it."""
        if not self._pending_frames:
            self._pending_since = time.monotonic()
        self._pending += payload
        self._pending_frames += 1
        if self._pending_frames >= _BATCH_FRAMES:
            if self._outbox.qsize() >= _MAX_WAITING_BATCHES:
                self._outbox.get_nowait()  # Gemini is not keeping up: the oldest audio goes
                self._dropped.inc(_BATCH_FRAMES)
            self._outbox.put_nowait((bytes(self._pending), self._pending_since))
            self._pending.clear()
            self._pending_frames = 0

    async def _send_audio(self) -> None:
        previous = 0
        while (batch := await self._outbox.get()) is not None:
            chunk, since = batch
            pcm, previous = ulaw8k_to_pcm16_16k(chunk, previous)
            try:
                await self._session.send_realtime_input(
                    audio=types.Blob(data=pcm, mime_type=_INPUT_MIME)
                )
            except (ConnectionClosed, errors.APIError) as exc:
                log.warning("gemini_send_failed", error=redact(repr(exc)))
                return
            self._latency.observe(time.monotonic() - since)

    async def events(self) -> AsyncIterator[AIEvent]:
        """Live messages mapped to the port's events."""
        try:
            while True:
                # ``receive()`` ends after each complete turn; the session goes on.
                async for message in self._session.receive():
                    for event in self._map(message):
                        yield event
        except (ConnectionClosed, errors.APIError, ValueError) as exc:
            if not self._closing:
                yield ProviderFailed(f"live connection lost: {type(exc).__name__}")

    def _map(self, message: types.LiveServerMessage) -> Iterator[AIEvent]:
        if message.go_away is not None:
            log.warning("gemini_go_away", time_left=message.go_away.time_left)
        content = message.server_content
        if content is None:
            return
        if content.input_transcription is not None and content.input_transcription.text:
            yield from self._caller_heard(content.input_transcription.text)
        if content.interrupted:
            yield from self._interrupted()
        parts = content.model_turn.parts if content.model_turn is not None else None
        for part in parts or ():
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                item_id = self._answer()
                if item_id in self._cut:
                    continue
                ulaw, self._downsample = pcm16_24k_to_ulaw8k(blob.data, self._downsample)
                if ulaw:
                    yield AgentAudio(item_id, ulaw)
        if content.output_transcription is not None and content.output_transcription.text:
            self._answer()
            self._agent_words.append(content.output_transcription.text)
        if content.turn_complete:
            yield from self._caller_finished()
            yield from self._answer_done()

    def _answer(self) -> str:
        """The current answer's item id, starting one if needed."""
        if self._item_id is None:
            self._item_id = f"gemini-{next(self._turns)}"
            self._downsample = DOWNSAMPLE_START
            self._agent_words = []
        return self._item_id

    def _caller_heard(self, fragment: str) -> Iterator[AIEvent]:
        # Gemini only sends ``interrupted`` while its turn is open, and it closes the turn when
        # it reckons the answer played; our playback may still run a little longer. The first
        # words heard outside a model turn report the caller's speech (a barge-in if audio is
        # still playing). Inside a turn they may be late words of the caller's last sentence,
        # so they report nothing: ``interrupted`` covers that case.
        if not self._caller_speaking and self._item_id is None:
            self._caller_speaking = True
            yield CallerSpeechStarted()
        self._caller_words.append(fragment)

    def _caller_finished(self) -> Iterator[AIEvent]:
        # At the end of the model's turn, so words transcribed late (after the answer began)
        # still join the caller's sentence, which the transcript then puts before the answer.
        text = _joined(self._caller_words)
        self._caller_words = []
        if text:
            self._caller_speaking = False
            yield CallerSpeechStopped()
            yield CallerText(text)

    def _answer_done(self) -> Iterator[AIEvent]:
        item_id, self._item_id = self._item_id, None
        if item_id is None or item_id in self._cut:
            return
        text = _joined(self._agent_words)
        if text:
            yield AgentText(item_id, text)
        yield AnswerDone(item_id)

    def _interrupted(self) -> Iterator[AIEvent]:
        item_id, self._item_id = self._item_id, None
        self._caller_speaking = True
        if item_id is not None:
            text = _joined(self._agent_words)
            if text:  # so the transcript can keep the part that was heard
                yield AgentText(item_id, text)
        yield CallerSpeechStarted()

    async def say(self, instructions: str) -> None:
        """Ask for an answer now: a text turn (realtime text, which every Live model answers
        mid-conversation) saying ``instructions`` in the agent's voice."""
        await self._session.send_realtime_input(
            text=f"Say this to the caller, naturally: {instructions}"
        )

    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """Drop whatever still arrives of answer ``item_id`` (Gemini has no truncate call, and
        has already stopped the answer when it sent ``interrupted``). An answer still being
        received keeps its id until its turn completes, so none of its audio plays."""
        self._cut.add(item_id)

    async def close(self) -> None:
        """Stop sending and close the session."""
        self._closing = True
        self._outbox.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._sender, 2)
        with contextlib.suppress(*_CONNECT_ERRORS, RuntimeError):
            await self._connection.__aexit__(None, None, None)


class GeminiLiveProvider(AIProvider):
    """Opens Live sessions; ``base_url`` is ``GEMINI_BASE_URL`` (the library makes it wss)."""

    name = "gemini"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        model: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        http_options = types.HttpOptions(
            base_url=base_url,
            api_version="v1beta",
            # None: the library's default trust (certifi, or SSL_CERT_FILE).
            async_client_args={"ssl": ssl_context} if ssl_context is not None else None,
        )
        self._client = genai.Client(api_key=api_key, http_options=http_options)
        self._model = model

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """Connect, set the session up for phone audio, and return the conversation."""
        connect = self._client.aio.live.connect(model=self._model, config=live_config(config, call))
        try:
            session = await asyncio.wait_for(connect.__aenter__(), _CONNECT_TIMEOUT_S)
        except _CONNECT_ERRORS as exc:
            raise ProviderUnavailable(f"Gemini Live: {type(exc).__name__}") from exc
        if session.setup_complete is None:
            with contextlib.suppress(*_CONNECT_ERRORS, RuntimeError):
                await connect.__aexit__(None, None, None)
            raise ProviderUnavailable("Gemini Live: no setupComplete")
        return GeminiLiveConversation(session, connect)
