"""Caller transcripts from Google Cloud streaming speech-to-text (``google-cloud-speech``).

The first request carries the config (8 kHz μ-law), the following ones 100 ms of audio
each; only final results become transcripts. Google ends a stream after 305 s of audio, so a
call's transcription is a chain of streams: each is half-closed after ``stream_limit_s`` of
audio (its last results still arrive) and the next one picks up the following audio. A
stream Google ends early with ``OUT_OF_RANGE`` is replaced too, and the new stream first
replays the audio the cut one sent after its last final result (``result_end_time``), up to
``REPLAY_LIMIT_S``: words spoken across the cut are not lost, and audio the cut stream took
from the queue after Google stopped reading it is sent again. ``endpoint`` with ``insecure``
points the client at a local plain-text gRPC server (a fake in tests).

Audio waits in a queue for the stream to take it. While recognition stalls (Google stops
reading, a stream being replaced waits for its last results) it is bounded as the AI
adapters bound caller audio: beyond ``MAX_WAITING_S`` the oldest is dropped and counted on
``switchboard_gateway_caller_frames_dropped_total{provider="google_stt"}``. The AI adapters
keep 1 s (older audio is no use to a conversation); a transcript can take it later, so the
bound is the replay's 30 s (240 KB a call), longer than any rollover.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

import grpc
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import (
    GoogleAPIError,
    InternalServerError,
    OutOfRange,
    ServiceUnavailable,
)
from google.cloud.speech_v1 import SpeechAsyncClient
from google.cloud.speech_v1.services.speech.transports import SpeechGrpcAsyncIOTransport
from google.cloud.speech_v1.types import cloud_speech

from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.ports.transcriber import Transcriber, Transcription

log = get_logger(__name__)

_BATCH_FRAMES = 5
_FRAME_MS = 20
_BYTES_PER_SECOND = 8000  # 8 kHz μ-law, one byte per sample
#: Under Google's 305 s per stream, with room for the stream's last results.
STREAM_LIMIT_S = 290.0
#: At most this much audio without a final result is kept for a replay (longer is silence).
REPLAY_LIMIT_S = 30.0
#: Audio waiting for a stalled recognition beyond this is dropped, oldest first (see above).
MAX_WAITING_S = REPLAY_LIMIT_S
_MAX_WAITING_BATCHES = int(MAX_WAITING_S * 1000) // (_BATCH_FRAMES * _FRAME_MS)
#: Streams that end like this are followed by a new one (with the replay) ...
_CUT = (OutOfRange, InternalServerError, ServiceUnavailable)
#: ... unless this many in a row ended so with no final result: the service is failing.
MAX_FAILED_STREAMS = 3


class GoogleTranscription(Transcription):
    """A chain of ``StreamingRecognize`` calls, one after another, for one phone call."""

    def __init__(
        self, client: SpeechAsyncClient, language: str, stream_limit_s: float = STREAM_LIMIT_S
    ) -> None:
        self._client = client
        self._language = language
        self._stream_limit = int(stream_limit_s * _BYTES_PER_SECOND)
        self._replay_limit = int(REPLAY_LIMIT_S * _BYTES_PER_SECOND)
        self._audio_ended = False
        self._next_chunk: bytes | None = None
        # The current stream's audio after its last final result: (end offset, chunk).
        self._unconfirmed: deque[tuple[int, bytes]] = deque()
        self._replay: list[bytes] = []
        self._confirmed_any = False
        self.streams = 0
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._results: asyncio.Queue[str | None] = asyncio.Queue()
        self._pending = bytearray()
        self._frames = 0
        self._dropped = metrics.CALLER_FRAMES_DROPPED.labels(provider="google_stt")
        self._task = asyncio.create_task(self._recognize(), name="google-stt")

    def push_audio(self, payload: bytes) -> None:
        """Batch 100 ms of audio per request; beyond ``MAX_WAITING_S`` waiting the oldest
        batch is dropped."""
        self._pending += payload
        self._frames += 1
        if self._frames >= _BATCH_FRAMES:
            if self._audio.qsize() >= _MAX_WAITING_BATCHES:
                self._audio.get_nowait()
                self._dropped.inc(_BATCH_FRAMES)
            self._audio.put_nowait(bytes(self._pending))
            self._pending.clear()
            self._frames = 0

    async def _requests(self) -> AsyncIterator[cloud_speech.StreamingRecognizeRequest]:
        yield cloud_speech.StreamingRecognizeRequest(
            streaming_config=cloud_speech.StreamingRecognitionConfig(
                config=cloud_speech.RecognitionConfig(
                    encoding=cloud_speech.RecognitionConfig.AudioEncoding.MULAW,
                    sample_rate_hertz=8000,
                    language_code=self._language,
                    model="phone_call",
                ),
                interim_results=False,
            )
        )
        sent = 0
        while sent < self._stream_limit:
            if self._replay:  # what a cut stream left unconfirmed comes first
                chunk: bytes | None = self._replay.pop(0)
            elif self._audio_ended:  # the cut stream took the end of the call: replay only
                return
            else:
                chunk = self._next_chunk or await self._audio.get()
                self._next_chunk = None
            if chunk is None:
                self._audio_ended = True
                return
            sent += len(chunk)
            self._unconfirmed.append((sent, chunk))
            while sent - self._unconfirmed[0][0] > self._replay_limit:
                self._unconfirmed.popleft()
            yield cloud_speech.StreamingRecognizeRequest(audio_content=chunk)

    async def _recognize(self) -> None:
        failed_in_a_row = 0
        try:
            while self._replay or not self._audio_ended:
                if not self._replay:
                    # A new stream opens only for more audio, not for the end of the call.
                    self._next_chunk = await self._audio.get()
                    if self._next_chunk is None:
                        break
                self.streams += 1
                self._unconfirmed.clear()
                try:
                    await self._one_stream()
                    failed_in_a_row = 0
                except _CUT as exc:
                    # Google's own limit came first (OUT_OF_RANGE; grpc's client may report
                    # the cut as INTERNAL when it lands during a write), or a passing fault.
                    failed_in_a_row = 0 if self._confirmed_any else failed_in_a_row + 1
                    if failed_in_a_row >= MAX_FAILED_STREAMS:
                        raise
                    # Sent but unconfirmed, then a replay this stream did not get to send.
                    self._replay = [chunk for _, chunk in self._unconfirmed] + self._replay
                    if self._next_chunk is not None:  # taken, never sent
                        self._replay.append(self._next_chunk)
                        self._next_chunk = None
                    log.info(
                        "google_stt_stream_cut",
                        error=type(exc).__name__,
                        streams=self.streams,
                        replay=len(self._replay),
                    )
        except (GoogleAPIError, grpc.RpcError) as exc:
            log.warning("google_stt_failed", error=type(exc).__name__)
        finally:
            self._results.put_nowait(None)

    async def _one_stream(self) -> None:
        self._confirmed_any = False
        responses = await self._client.streaming_recognize(requests=self._requests())
        async for response in responses:
            for result in response.results:
                if not result.is_final:
                    continue
                self._confirmed_any = True
                confirmed = int(result.result_end_time.total_seconds() * _BYTES_PER_SECOND)
                while self._unconfirmed and self._unconfirmed[0][0] <= confirmed:
                    self._unconfirmed.popleft()
                if result.alternatives:
                    self._results.put_nowait(result.alternatives[0].transcript.strip())

    async def transcripts(self) -> AsyncIterator[str]:
        """Final transcripts until the stream ends."""
        while (text := await self._results.get()) is not None:
            if text:
                yield text

    async def close(self) -> None:
        """Send what is left and end the request stream; wait briefly for last results."""
        if self._pending:
            self._audio.put_nowait(bytes(self._pending))
            self._pending.clear()
        self._audio.put_nowait(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), 3)
        self._task.cancel()


class GoogleStreamingTranscriber(Transcriber):
    """Builds the Speech client lazily (its gRPC channel belongs to the running loop)."""

    def __init__(
        self, endpoint: str = "", *, insecure: bool = False, stream_limit_s: float = STREAM_LIMIT_S
    ) -> None:
        self._endpoint = endpoint
        self._insecure = insecure
        self._stream_limit_s = stream_limit_s
        self._client: SpeechAsyncClient | None = None

    def _speech_client(self) -> SpeechAsyncClient:
        if self._client is None:
            options = ClientOptions(api_endpoint=self._endpoint) if self._endpoint else None
            if self._insecure:
                transport = SpeechGrpcAsyncIOTransport(
                    host=self._endpoint, channel=grpc.aio.insecure_channel(self._endpoint)
                )
                self._client = SpeechAsyncClient(transport=transport, client_options=options)
            else:
                self._client = SpeechAsyncClient(client_options=options)
        return self._client

    async def start(self, language: str) -> Transcription:
        """Open a streaming recognition for one call."""
        return GoogleTranscription(self._speech_client(), language, self._stream_limit_s)
