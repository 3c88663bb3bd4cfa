"""G.711 μ-law ↔ 16-bit PCM, as pure functions over lookup tables.

Twilio Media Streams carry 8 kHz mono μ-law: one byte per sample, 160 bytes per 20 ms frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # 160 samples, one byte each
ULAW_SILENCE = 0xFF  # μ-law code of a zero sample

_BIAS = 0x84
_CLIP = 32635

Pcm = npt.NDArray[np.int16]


def _build_decode_table() -> Pcm:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    samples = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude >> 7 | 1)).astype(np.int32)
    exponent = np.minimum(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes = ~(sign | (exponent << 4) | mantissa) & 0xFF
    # Indexed by the int16 sample reinterpreted as uint16 (two's complement order).
    return np.roll(codes.astype(np.uint8), -32768)


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def ulaw_to_pcm16(data: bytes) -> Pcm:
    """Decode μ-law bytes to signed 16-bit samples."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(samples: npt.ArrayLike) -> bytes:
    """Encode signed 16-bit samples (any int or float array, clipped to int16) to μ-law."""
    pcm = np.clip(np.asarray(samples), -32768, 32767).astype(np.int16)
    encoded: bytes = _ENCODE[pcm.view(np.uint16)].tobytes()
    return encoded


def float_to_ulaw(samples: npt.ArrayLike, peak: float = 0.5) -> bytes:
    """Encode float samples in [-1, 1], scaled so full scale is ``peak`` of int16 range."""
    return pcm16_to_ulaw(np.asarray(samples, dtype=np.float64) * (32767 * peak))


def split_frames(data: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """Cut μ-law audio into frames, padding the last one with silence."""
    if not data:
        return []
    remainder = len(data) % frame_bytes
    if remainder:
        data = data + bytes([ULAW_SILENCE]) * (frame_bytes - remainder)
    return [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]


def duration_ms(data: bytes) -> int:
    """How long μ-law audio plays, in milliseconds."""
    return len(data) * 1000 // SAMPLE_RATE


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> npt.NDArray[np.float64]:
    """Linear-interpolation resampling (good enough for telephone-band speech)."""
    source = np.asarray(samples, dtype=np.float64)
    if from_rate == to_rate or source.size == 0:
        return source
    count = int(round(source.size * to_rate / from_rate))
    positions = np.arange(count) * (from_rate / to_rate)
    resampled: npt.NDArray[np.float64] = np.interp(positions, np.arange(source.size), source)
    return resampled


def rms_dbfs(data: bytes) -> float:
    """Loudness of μ-law audio in dBFS (-inf for digital silence)."""
    if not data:
        return float("-inf")
    pcm = ulaw_to_pcm16(data).astype(np.float64)
    rms = float(np.sqrt(np.mean(pcm * pcm)))
    return 20 * float(np.log10(rms / 32768)) if rms > 0 else float("-inf")


def loud_sample_table(threshold: int) -> bytes:
    """A ``bytes.translate`` table mapping each μ-law code to 1 if louder than ``threshold``.

    ``frame.translate(table).count(1)`` then counts loud samples in C, which keeps the
    per-frame voice-activity check of every call cheap.
    """
    return bytes(1 if abs(int(v)) > threshold else 0 for v in _DECODE)
