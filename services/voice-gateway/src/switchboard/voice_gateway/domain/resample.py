"""Phone audio ↔ the PCM16 rates of providers that do not speak μ-law (Gemini Live).

Twilio carries 8 kHz μ-law; Gemini Live hears 16 kHz and speaks 24 kHz 16-bit little-endian
PCM. Both conversions are pure functions over one chunk plus the little state a stream needs
between chunks, which the caller hands back in with the next chunk, so chunk boundaries leave
no clicks:

- up, 8 → 16 kHz: linear interpolation; the state is the chunk's last sample.
- down, 24 → 8 kHz: a windowed-sinc low-pass (below the 4 kHz Nyquist of the phone line, so
  nothing above it folds back as noise) and every third sample; the state is the filter's
  history plus any sample (or odd byte) a chunk left over.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from switchboard.voice_gateway.domain.codecs import pcm16_to_ulaw, ulaw_to_pcm16

#: What Gemini Live expects as input and produces as output.
GEMINI_INPUT_RATE = 16_000
GEMINI_OUTPUT_RATE = 24_000
_DECIMATION = 3  # 24 kHz → 8 kHz
_TAPS = 31


def _low_pass(taps: int, cutoff_hz: float, rate_hz: float) -> npt.NDArray[np.float64]:
    """A Hamming-windowed sinc low-pass with unit gain at 0 Hz."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = np.sinc(2 * cutoff_hz / rate_hz * n) * np.hamming(taps)
    normalized: npt.NDArray[np.float64] = kernel / kernel.sum()
    return normalized


# 3.6 kHz: the telephone band ends at 3.4 kHz; above 4 kHz would alias at 8 kHz.
_DOWN_FILTER = _low_pass(_TAPS, 3600.0, GEMINI_OUTPUT_RATE)
#: The state to start a 24 kHz stream with: the filter's history, silent.
DOWNSAMPLE_START = bytes(2 * (_TAPS - 1))


def ulaw8k_to_pcm16_16k(ulaw: bytes, previous: int = 0) -> tuple[bytes, int]:
    """Caller audio for Gemini: 8 kHz μ-law → 16 kHz PCM16 LE, two samples per byte in.

    ``previous`` is the last 8 kHz sample of the chunk before (0 at the start of a stream);
    returns the PCM and the ``previous`` to pass with the next chunk.
    """
    if not ulaw:
        return b"", previous
    samples = ulaw_to_pcm16(ulaw).astype(np.int32)
    before = np.concatenate(([previous], samples[:-1]))
    out = np.empty(2 * samples.size, dtype="<i2")
    out[0::2] = (before + samples) // 2  # halfway between the sample before and this one
    out[1::2] = samples
    return out.tobytes(), int(samples[-1])


def pcm16_24k_to_ulaw8k(pcm: bytes, state: bytes = DOWNSAMPLE_START) -> tuple[bytes, bytes]:
    """Agent audio for the phone: 24 kHz PCM16 LE → 8 kHz μ-law, one byte per three samples.

    ``state`` is what the previous call returned (``DOWNSAMPLE_START`` for a new stream);
    returns the μ-law and the state to pass with the next chunk. A stream of ``3n`` samples
    comes out as ``n`` bytes, delayed by half the filter (0.6 ms).
    """
    data = state + pcm
    usable = len(data) - len(data) % 2
    samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float64)
    if samples.size < _TAPS:
        return b"", data
    outputs = (samples.size - _TAPS) // _DECIMATION + 1
    filtered = np.convolve(samples, _DOWN_FILTER, mode="valid")
    ulaw = pcm16_to_ulaw(np.rint(filtered[: outputs * _DECIMATION : _DECIMATION]))
    return ulaw, data[2 * outputs * _DECIMATION :]
