"""Phone audio ↔ Gemini Live's PCM16 rates: lengths, tone, band limit and chunk seams."""

import numpy as np
import numpy.typing as npt

from switchboard.voice_gateway.domain.codecs import pcm16_to_ulaw, ulaw_to_pcm16
from switchboard.voice_gateway.domain.resample import (
    DOWNSAMPLE_START,
    pcm16_24k_to_ulaw8k,
    ulaw8k_to_pcm16_16k,
)


def _tone(hz: float, rate: int, seconds: float, amplitude: float = 8000) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _pcm(data: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def _strength_at(samples: npt.NDArray[np.float64], hz: float, rate: int) -> float:
    """The amplitude of the ``hz`` component (a single DFT bin)."""
    t = np.arange(samples.size) / rate
    return float(2 * abs(np.sum(samples * np.exp(-2j * np.pi * hz * t))) / samples.size)


def _downsample_in_chunks(pcm: bytes, sizes: list[int]) -> bytes:
    state, out, start = DOWNSAMPLE_START, b"", 0
    for size in sizes:
        piece, state = pcm16_24k_to_ulaw8k(pcm[start : start + size], state)
        out, start = out + piece, start + size
    return out


def test_caller_audio_doubles_its_sample_count_as_16_bit_little_endian() -> None:
    pcm, last = ulaw8k_to_pcm16_16k(bytes(range(160)))
    assert len(pcm) == 160 * 2 * 2
    decoded = ulaw_to_pcm16(bytes(range(160)))
    assert list(_pcm(pcm)[1::2]) == list(decoded) and last == decoded[-1]


def test_a_1_khz_tone_from_the_phone_is_still_a_1_khz_tone_at_16_khz() -> None:
    tone = _tone(1000, 8000, 0.5)
    pcm, _ = ulaw8k_to_pcm16_16k(pcm16_to_ulaw(tone))
    samples = _pcm(pcm)
    assert _strength_at(samples, 1000, 16000) > 7000
    assert _strength_at(samples, 7000, 16000) < 800  # the image is damped


def test_caller_chunks_joined_by_their_carried_sample_equal_one_whole_conversion() -> None:
    ulaw = pcm16_to_ulaw(_tone(440, 8000, 0.2))
    whole, _ = ulaw8k_to_pcm16_16k(ulaw)
    first, previous = ulaw8k_to_pcm16_16k(ulaw[:800])
    second, _ = ulaw8k_to_pcm16_16k(ulaw[800:], previous)
    assert first + second == whole


def test_an_empty_caller_chunk_keeps_the_carried_sample() -> None:
    assert ulaw8k_to_pcm16_16k(b"", 123) == (b"", 123)


def test_agent_audio_comes_out_as_one_ulaw_byte_per_three_samples() -> None:
    pcm = _tone(500, 24000, 1.0).astype("<i2").tobytes()
    ulaw, _ = pcm16_24k_to_ulaw8k(pcm)
    assert len(ulaw) == 8000


def test_a_1_khz_tone_from_gemini_is_a_1_khz_tone_on_the_phone() -> None:
    ulaw, _ = pcm16_24k_to_ulaw8k(_tone(1000, 24000, 0.5).astype("<i2").tobytes())
    samples = ulaw_to_pcm16(ulaw).astype(np.float64)[40:]  # past the filter's start
    assert 7000 < _strength_at(samples, 1000, 8000) < 8600


def test_a_tone_above_the_phone_band_is_filtered_out_instead_of_folding_back() -> None:
    # 6 kHz would alias to 2 kHz at 8 kHz without the low-pass.
    ulaw, _ = pcm16_24k_to_ulaw8k(_tone(6000, 24000, 0.5).astype("<i2").tobytes())
    samples = ulaw_to_pcm16(ulaw).astype(np.float64)[40:]
    assert _strength_at(samples, 2000, 8000) < 150


def test_agent_chunks_of_any_size_even_odd_bytes_give_the_same_audio_as_one_chunk() -> None:
    pcm = _tone(700, 24000, 0.3).astype("<i2").tobytes()
    whole, _ = pcm16_24k_to_ulaw8k(pcm)
    assert _downsample_in_chunks(pcm, [7, 1000, 3, 4801, 2, len(pcm)]) == whole


def test_a_chunk_too_short_for_the_filter_is_kept_for_the_next_one() -> None:
    ulaw, state = pcm16_24k_to_ulaw8k(b"\x01", b"")
    assert (ulaw, state) == (b"", b"\x01")
