"""A fake Google Cloud Speech-to-Text v1 gRPC server (``StreamingRecognize`` only).

It speaks the real wire protocol (protobuf over HTTP/2, plain text) so the real
``google-cloud-speech`` client can talk to it. It checks the first request is a streaming
config, counts audio, and after every ``utterance_bytes`` of audio returns a final result
``"utterance N"`` whose ``result_end_time`` is that point of the stream's audio; it keeps the
configs it received and the audio it read (``heard``). Like Google, it ends a stream that
carries more than ``max_stream_bytes`` of audio with ``OUT_OF_RANGE`` (the request that
crosses the limit is not read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import grpc
from google.cloud.speech_v1.types import cloud_speech


class FakeSpeechServer:
    """Serve on ``endpoint`` (``127.0.0.1:<port>``) inside ``running()``."""

    def __init__(self, utterance_bytes: int = 8000, max_stream_bytes: int = 305 * 8000) -> None:
        self.utterance_bytes = utterance_bytes
        self.max_stream_bytes = max_stream_bytes
        self.configs: list[cloud_speech.StreamingRecognitionConfig] = []
        self.audio_bytes = 0
        self.heard = bytearray()
        self.port = 0

    @property
    def endpoint(self) -> str:
        """``host:port`` for the client's ``api_endpoint``."""
        return f"127.0.0.1:{self.port}"

    async def _streaming_recognize(
        self,
        requests: AsyncIterator[cloud_speech.StreamingRecognizeRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[cloud_speech.StreamingRecognizeResponse]:
        first = True
        pending = 0
        count = 0
        streamed = 0
        async for request in requests:
            if first:
                if "streaming_config" not in request:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config must come first")
                self.configs.append(request.streaming_config)
                first = False
                continue
            streamed += len(request.audio_content)
            if streamed > self.max_stream_bytes:  # end the call with Google's status
                await context.abort(
                    grpc.StatusCode.OUT_OF_RANGE,
                    "Exceeded maximum allowed stream duration of 305 seconds.",
                )
            self.audio_bytes += len(request.audio_content)
            self.heard += request.audio_content
            pending += len(request.audio_content)
            while pending >= self.utterance_bytes:
                pending -= self.utterance_bytes
                count += 1
                end_s = (streamed - pending) / 8000  # 8 kHz μ-law: one byte per sample
                yield cloud_speech.StreamingRecognizeResponse(
                    results=[
                        cloud_speech.StreamingRecognitionResult(
                            is_final=True,
                            result_end_time=timedelta(seconds=end_s),
                            alternatives=[
                                cloud_speech.SpeechRecognitionAlternative(
                                    transcript=f"utterance {count}", confidence=0.9
                                )
                            ],
                        )
                    ]
                )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeSpeechServer]:
        """Start the gRPC server on a free port."""
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "google.cloud.speech.v1.Speech",
            {
                "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
                    self._streaming_recognize,
                    request_deserializer=cloud_speech.StreamingRecognizeRequest.deserialize,
                    response_serializer=cloud_speech.StreamingRecognizeResponse.serialize,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield self
        finally:
            await server.stop(grace=None)
