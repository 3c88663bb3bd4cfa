import numpy as np

from switchboard.voice_gateway.domain.codecs import (
    FRAME_BYTES,
    ULAW_SILENCE,
    duration_ms,
    loud_sample_table,
    pcm16_to_ulaw,
    resample,
    rms_dbfs,
    split_frames,
    ulaw_to_pcm16,
)
from switchboard.voice_gateway.domain.speech import speech_ulaw


def test_every_ulaw_code_decodes_and_re_encodes_to_itself() -> None:
    codes = bytes(range(256))
    reencoded = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    # 0x7F and 0xFF are both zero (±0); everything else is exact.
    assert [c for c, r in zip(codes, reencoded, strict=True) if c != r] == [0x7F]


def test_encoding_then_decoding_keeps_a_sample_within_its_quantisation_step() -> None:
    samples = np.arange(-32000, 32000, 37, dtype=np.int16)
    decoded = ulaw_to_pcm16(pcm16_to_ulaw(samples)).astype(np.int32)
    error = np.abs(decoded - samples)
    assert np.all(error <= np.maximum(16, np.abs(samples.astype(np.int32)) // 16))


def test_zero_encodes_to_the_ulaw_silence_code() -> None:
    assert pcm16_to_ulaw(np.zeros(4, dtype=np.int16)) == bytes([ULAW_SILENCE]) * 4


def test_out_of_range_samples_are_clipped_not_wrapped() -> None:
    loud = pcm16_to_ulaw(np.array([40000, -40000]))
    assert list(ulaw_to_pcm16(loud)) == list(
        ulaw_to_pcm16(pcm16_to_ulaw(np.array([32767, -32768])))
    )


def test_audio_is_split_into_160_byte_frames_with_the_last_padded_with_silence() -> None:
    frames = split_frames(b"\x00" * 400)
    assert [len(f) for f in frames] == [FRAME_BYTES] * 3
    assert frames[-1][80:] == bytes([ULAW_SILENCE]) * 80


def test_duration_of_8khz_ulaw_is_one_millisecond_per_eight_bytes() -> None:
    assert duration_ms(b"\xff" * 8000) == 1000


def test_resampling_24khz_to_8khz_keeps_a_third_of_the_samples() -> None:
    assert resample(np.ones(2400), 24000, 8000).size == 800


def test_silence_is_minus_infinity_dbfs_and_speech_is_loud() -> None:
    assert rms_dbfs(bytes([ULAW_SILENCE]) * 160) == float("-inf")
    assert rms_dbfs(speech_ulaw("hello there")) > -25


def test_the_loud_sample_table_counts_loud_samples_with_bytes_translate() -> None:
    table = loud_sample_table(1000)
    loud = pcm16_to_ulaw(np.full(10, 8000))
    quiet = pcm16_to_ulaw(np.full(10, 100))
    assert (loud + quiet).translate(table).count(1) == 10
