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

A Live connection lasts 10–15 minutes, a call up to hours, so sessions are resumable: the
setup asks for resumption, ``sessionResumptionUpdate`` keeps the latest resumable handle, and
on ``goAway`` (once no answer is being received and the handle is current) or on an
unexpected close with a handle, a new connection resumes the session and is swapped in
behind the same ``events()`` stream. Caller audio pushed during the swap waits in the sender's
queue (bounded to 1 s; older audio is dropped and counted on ``CALLER_FRAMES_DROPPED``) and
goes to the new connection; item ids and the resampler states carry on. A refused or failed
resumption ends the conversation with ``ProviderFailed``, as a lost connection did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from google import genai
from google.genai import errors, types
from websockets.exceptions import ConnectionClosed

from switchboard.common.logging import get_logger, redact
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.adapters.gemini_live_setup import (
    GEMINI_VOICES,
    Connection,
    Resume,
    close_connection,
    connect,
    live_config,
)
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
)

__all__ = ["GEMINI_VOICES", "GeminiLiveConversation", "GeminiLiveProvider", "live_config"]

log = get_logger(__name__)

#: 40 ms of caller audio per realtimeInput message: Gemini's VAD hears the caller at most
#: 40 ms late, and a call costs 25 library sends a second, not 50.
_BATCH_FRAMES = 2
#: Caller audio waiting for a slow Gemini beyond this (1 s) is dropped, oldest first.
_MAX_WAITING_BATCHES = 25
_INPUT_MIME = f"audio/pcm;rate={GEMINI_INPUT_RATE}"


def _joined(fragments: list[str]) -> str:
    """Transcription fragments carry their own spacing; normalise it."""
    return " ".join("".join(fragments).split())


class GeminiLiveConversation(AIConversation):
    """One call's Live session, over one connection at a time (see resumption above)."""

    name = "gemini"
    provider_name = "gemini"
    transcribes_caller = True

    def __init__(self, connection: Connection, resume: Resume | None = None) -> None:
        self._session, self._connection = connection  # ``connect()``'s context, entered
        self._resume = resume
        self._pending = bytearray()
        self._pending_frames = 0
        self._pending_since = 0.0  # when the batch's first frame came
        self._outbox: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self._latency = metrics.CALLER_AUDIO_LATENCY.labels(provider=self.provider_name)
        self._dropped = metrics.CALLER_FRAMES_DROPPED.labels(provider=self.provider_name)
        self._connected = asyncio.Event()  # clear while a new connection is being swapped in
        self._connected.set()
        self._sender = asyncio.create_task(self._send_audio(), name="gemini-audio-sender")
        self._closing = False
        self._failed = False
        self._handle: str | None = None  # the latest handle to resume the session from
        self._handle_current = False  # nothing has happened since that handle was issued
        self._go_away = False
        self._swap: asyncio.Task[Connection] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
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
                # Gemini is not keeping up (or a new connection is being swapped in): the
                # oldest audio goes.
                self._outbox.get_nowait()
                self._dropped.inc(_BATCH_FRAMES)
            self._outbox.put_nowait((bytes(self._pending), self._pending_since))
            self._pending.clear()
            self._pending_frames = 0

    async def _send_audio(self) -> None:
        previous = 0
        while (batch := await self._outbox.get()) is not None:
            chunk, since = batch
            pcm, previous = ulaw8k_to_pcm16_16k(chunk, previous)
            if not await self._send(audio=types.Blob(data=pcm, mime_type=_INPUT_MIME)):
                return
            self._latency.observe(time.monotonic() - since)

    async def _send(self, **realtime_input: Any) -> bool:
        """Send on the current connection, waiting out a swap; False once there is none."""
        while True:
            await self._connected.wait()
            if self._failed:
                return False
            session = self._session
            try:
                await session.send_realtime_input(**realtime_input)
                return True
            except (ConnectionClosed, errors.APIError) as exc:
                if self._closing or self._failed or self._resume is None:
                    log.warning("gemini_send_failed", error=redact(repr(exc)))
                    return False
                # The connection went away under us: ``events()`` resumes the session (or
                # fails), and this goes to the new connection.
                if session is self._session:
                    self._connected.clear()

    async def events(self) -> AsyncIterator[AIEvent]:
        """Live messages mapped to the port's events, across resumed connections."""
        while not self._closing and not self._failed:
            reason = "goAway"
            try:
                # ``receive()`` ends after each complete turn; the session goes on.
                async for message in self._session.receive():
                    for event in self._map(message):
                        yield event
                    if self._may_swap():
                        break
                else:
                    if not self._may_swap():
                        continue
            except (ConnectionClosed, errors.APIError, ValueError) as exc:
                if self._closing:
                    return
                reason = type(exc).__name__
                if self._handle is None or self._resume is None:
                    self._failed = True
                    self._connected.set()
                    yield ProviderFailed(f"live connection lost: {reason}")
                    return
                # An answer the lost connection was sending ends with what came of it.
                for event in self._answer_done():
                    yield event
            if not await self._resumed(reason):
                self._failed = not self._closing
                self._connected.set()  # the sender stops
                if self._failed:
                    yield ProviderFailed("live session could not be resumed")
                return

    def _may_swap(self) -> bool:
        """After ``goAway``, swap connections once the handle covers everything received."""
        return self._go_away and self._handle_current and self._item_id is None

    async def _resumed(self, reason: str) -> bool:
        """Open a connection resuming the session and swap it in; False if that failed."""
        assert self._handle is not None and self._resume is not None
        self._connected.clear()  # caller audio waits for the new connection
        swap = self._swap = asyncio.create_task(self._resume(self._handle), name="gemini-resume")
        await asyncio.wait({swap})
        if self._closing:  # close() owns the swap now
            return False
        self._swap = None
        if swap.exception() is not None:
            log.warning(
                "gemini_resume_failed", reason=reason, error=type(swap.exception()).__name__
            )
            return False
        old = self._session, self._connection
        self._session, self._connection = swap.result()
        self._go_away = False
        self._handle_current = False
        self._connected.set()
        log.info("gemini_session_resumed", reason=reason)
        metrics.AI_SESSIONS_RESUMED.labels(provider=self.provider_name, reason=reason).inc()
        retire = asyncio.create_task(close_connection(old), name="gemini-retire")
        self._retiring.add(retire)
        retire.add_done_callback(self._retiring.discard)
        return True

    def _map(self, message: types.LiveServerMessage) -> Iterator[AIEvent]:
        update = message.session_resumption_update
        if update is not None:
            self._handle_current = bool(update.resumable and update.new_handle)
            if self._handle_current:
                self._handle = update.new_handle
        elif message.server_content is not None or message.tool_call is not None:
            self._handle_current = False  # the session moved on since the handle
        if message.go_away is not None:
            log.info("gemini_go_away", time_left=message.go_away.time_left)
            self._go_away = True
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
        await self._send(text=f"Say this to the caller, naturally: {instructions}")

    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """Drop whatever still arrives of answer ``item_id`` (Gemini has no truncate call, and
        has already stopped the answer when it sent ``interrupted``). An answer still being
        received keeps its id until its turn completes, so none of its audio plays."""
        self._cut.add(item_id)

    async def close(self) -> None:
        """Stop sending and close the session's connections, one being swapped in too."""
        self._closing = True
        self._connected.set()
        self._outbox.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._sender, 2)
        swap, self._swap = self._swap, None
        if swap is not None:
            swap.cancel()
            await asyncio.wait({swap})
            if not swap.cancelled() and swap.exception() is None:
                await close_connection(swap.result())
        await close_connection((self._session, self._connection))
        if self._retiring:
            await asyncio.wait(self._retiring)


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

        async def resume(handle: str) -> Connection:
            return await connect(self._client, self._model, live_config(config, call, handle))

        first = await connect(self._client, self._model, live_config(config, call))
        return GeminiLiveConversation(first, resume)
