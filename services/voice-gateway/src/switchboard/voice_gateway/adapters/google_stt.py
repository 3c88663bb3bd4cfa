"""Caller transcripts from Google Cloud streaming speech-to-text (``google-cloud-speech``).

The first request carries the config (8 kHz μ-law), the following ones 100 ms of audio
each; only final results become transcripts. Google ends a stream after 305 s of audio, so a
call's transcription is a chain of streams: each is half-closed after ``stream_limit_s`` of
audio (its last results still arrive) and the next one picks up the following audio; a
stream Google ends early with ``OUT_OF_RANGE`` is replaced the same way. ``endpoint`` with
``insecure`` points the client at a local plain-text gRPC server (a fake in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import GoogleAPIError, OutOfRange
from google.cloud.speech_v1 import SpeechAsyncClient
from google.cloud.speech_v1.services.speech.transports import SpeechGrpcAsyncIOTransport
from google.cloud.speech_v1.types import cloud_speech

from switchboard.common.logging import get_logger
from switchboard.voice_gateway.ports.transcriber import Transcriber, Transcription

log = get_logger(__name__)

_BATCH_FRAMES = 5
_BYTES_PER_SECOND = 8000  # 8 kHz μ-law, one byte per sample
#: Under Google's 305 s per stream, with room for the stream's last results.
STREAM_LIMIT_S = 290.0


class GoogleTranscription(Transcription):
    """A chain of ``StreamingRecognize`` calls, one after another, for one phone call."""

    def __init__(
        self, client: SpeechAsyncClient, language: str, stream_limit_s: float = STREAM_LIMIT_S
    ) -> None:
        self._client = client
        self._language = language
        self._stream_limit = int(stream_limit_s * _BYTES_PER_SECOND)
        self._audio_ended = False
        self._next_chunk: bytes | None = None
        self.streams = 0
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._results: asyncio.Queue[str | None] = asyncio.Queue()
        self._pending = bytearray()
        self._frames = 0
        self._task = asyncio.create_task(self._recognize(), name="google-stt")

    def push_audio(self, payload: bytes) -> None:
        """Batch 100 ms of audio per request."""
        self._pending += payload
        self._frames += 1
        if self._frames >= _BATCH_FRAMES:
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
            chunk = self._next_chunk or await self._audio.get()
            self._next_chunk = None
            if chunk is None:
                self._audio_ended = True
                return
            sent += len(chunk)
            yield cloud_speech.StreamingRecognizeRequest(audio_content=chunk)

    async def _recognize(self) -> None:
        try:
            while not self._audio_ended:
                # A new stream opens only for more audio, not for the end of the call.
                self._next_chunk = await self._audio.get()
                if self._next_chunk is None:
                    break
                self.streams += 1
                try:
                    await self._one_stream()
                except OutOfRange:  # Google's own duration limit came first: go on in a new one
                    log.info("google_stt_stream_limit", streams=self.streams)
        except (GoogleAPIError, grpc.RpcError) as exc:
            log.warning("google_stt_failed", error=type(exc).__name__)
        finally:
            self._results.put_nowait(None)

    async def _one_stream(self) -> None:
        responses = await self._client.streaming_recognize(requests=self._requests())
        async for response in responses:
            for result in response.results:
                if result.is_final and result.alternatives:
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
