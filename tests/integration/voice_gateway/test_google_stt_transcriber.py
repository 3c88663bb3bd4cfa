"""Google streaming STT through the real ``google-cloud-speech`` client and a fake gRPC server."""

from __future__ import annotations

import asyncio

from google.cloud.speech_v1.types import cloud_speech
from prometheus_client import REGISTRY

from switchboard.voice_gateway.adapters.google_stt import (
    MAX_FAILED_STREAMS,
    MAX_WAITING_S,
    GoogleStreamingTranscriber,
)
from tests.fakes.google_stt import FakeSpeechServer
from tests.unit.voice_gateway.twilio_messages import SILENCE


async def test_caller_audio_streams_to_google_and_final_results_become_transcripts() -> None:
    async with FakeSpeechServer(utterance_bytes=8000).running() as fake:
        transcriber = GoogleStreamingTranscriber(fake.endpoint, insecure=True)
        transcription = await transcriber.start("en-US")
        for _ in range(110):  # 2.2 s of audio: two "utterances" of one second
            transcription.push_audio(SILENCE)
        results = transcription.transcripts()
        async with asyncio.timeout(10):
            texts = [await anext(results), await anext(results)]
        await transcription.close()

    assert texts == ["utterance 1", "utterance 2"]
    (config,) = fake.configs
    assert config.config.encoding == cloud_speech.RecognitionConfig.AudioEncoding.MULAW
    assert (config.config.sample_rate_hertz, config.config.language_code) == (8000, "en-US")
    assert fake.audio_bytes == 110 * 160


async def _transcribe(fake: FakeSpeechServer, seconds: int, limit_s: float) -> list[str]:
    transcriber = GoogleStreamingTranscriber(fake.endpoint, insecure=True, stream_limit_s=limit_s)
    transcription = await transcriber.start("en-US")
    for _ in range(seconds * 50):  # 20 ms frames
        transcription.push_audio(SILENCE)
    await transcription.close()  # half-closes the last stream, waits for its results
    return [text async for text in transcription.transcripts()]


async def test_a_long_call_is_transcribed_as_a_chain_of_streams_under_googles_limit() -> None:
    async with FakeSpeechServer(utterance_bytes=8000, max_stream_bytes=3 * 8000).running() as fake:
        texts = await _transcribe(fake, seconds=6, limit_s=2)

    assert len(fake.configs) == 3  # 2 s each, never reaching the server's 3 s limit
    assert fake.audio_bytes == 6 * 8000
    assert texts == ["utterance 1", "utterance 2"] * 3


async def test_a_stream_google_cuts_is_followed_by_one_that_replays_its_unconfirmed_audio() -> None:
    # Google's limit (2.5 s here) comes before ours: each stream is cut with OUT_OF_RANGE.
    # All the audio is queued at once, so a cut stream takes more (even the end of the call)
    # than Google read; the next stream replays everything after the last final result.
    fake = FakeSpeechServer(utterance_bytes=8000, max_stream_bytes=int(2.5 * 8000))
    async with fake.running():
        texts = await _transcribe(fake, seconds=6, limit_s=290)

    assert texts == ["utterance 1", "utterance 2"] * 3  # every second of audio, once
    assert len(fake.configs) == 3  # cut at 2.5 s, 2.5 s, then the last 2 s
    # 0.5 s after the last final result of each cut stream is heard again by the next one
    assert fake.audio_bytes == 6 * 8000 + 2 * 4000


async def test_streams_that_keep_failing_without_a_result_end_the_transcription() -> None:
    fake = FakeSpeechServer(utterance_bytes=8000, max_stream_bytes=0)  # refuses any audio
    async with fake.running():
        texts = await _transcribe(fake, seconds=2, limit_s=290)

    assert texts == []
    assert len(fake.configs) == MAX_FAILED_STREAMS  # then it gives up instead of looping


def _dropped() -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_gateway_caller_frames_dropped_total", {"provider": "google_stt"}
    )
    return value or 0.0


async def test_audio_waiting_for_a_stalled_recognition_is_bounded_dropping_the_oldest() -> None:
    # 10 s more than the bound arrives while recognition has not read a byte (pushed in
    # one go, the recognition task gets no turn: as when Google stops reading). The oldest
    # 10 s are dropped and counted; Google hears the newest MAX_WAITING_S whole.
    assert MAX_WAITING_S == 30
    older, newer = b"\x01" * 160, b"\x02" * 160
    before = _dropped()
    async with FakeSpeechServer(utterance_bytes=8000).running() as fake:
        transcriber = GoogleStreamingTranscriber(fake.endpoint, insecure=True)
        transcription = await transcriber.start("en-US")
        for _ in range(10 * 50):
            transcription.push_audio(older)
        for _ in range(30 * 50):
            transcription.push_audio(newer)
        assert _dropped() == before + 10 * 50
        await transcription.close()
        texts = [text async for text in transcription.transcripts()]

    assert fake.heard == newer * 30 * 50
    assert texts == [f"utterance {n}" for n in range(1, 31)]
