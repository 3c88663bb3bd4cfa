"""Speech-like audio from text, synthesized with numpy (no TTS engine needed).

Each syllable is a voiced vowel — harmonics of a falling pitch shaped by three formant
peaks — preceded by a short noise burst standing in for a consonant, with pauses between
words. It is not intelligible, but it has the energy, rhythm and spectrum of speech, so
voice-activity detection, barge-in and speech-to-text see what they see in a real call.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from switchboard.voice_gateway.domain.codecs import SAMPLE_RATE, float_to_ulaw

#: (F1, F2, F3) in Hz for a few vowels.
_VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (390, 1990, 2550),
    "o": (570, 840, 2410),
    "u": (440, 1020, 2240),
}
_VOICES: dict[str, float] = {"low": 110.0, "alloy": 140.0, "mid": 150.0, "high": 210.0}
_SYLLABLE_S = 0.17
_WORD_GAP_S = 0.06
_SENTENCE_GAP_S = 0.25


def _syllables(word: str) -> list[str]:
    vowels = re.findall(r"[aeiouy]+", word.lower()) or ["a"]
    return [v[0] if v[0] in _VOWELS else "i" for v in vowels]


def _vowel(
    vowel: str, duration_s: float, f0: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    n = int(duration_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pitch = f0 * (1.05 - 0.1 * t / max(duration_s, 1e-3)) * (1 + 0.01 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    formants = _VOWELS[vowel]
    signal = np.zeros(n)
    for k in range(1, int(3600 / f0)):
        freq = k * f0
        gain = sum(np.exp(-(((freq - f) / (60 + f * 0.08)) ** 2)) for f in formants)
        signal += (gain + 0.02) / k**0.5 * np.sin(k * phase)
    envelope = np.minimum(1.0, np.minimum(t / 0.02, (duration_s - t) / 0.04).clip(0))
    shaped: npt.NDArray[np.float64] = signal * envelope
    return shaped


def _consonant(duration_s: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    n = int(duration_s * SAMPLE_RATE)
    noise = np.diff(rng.standard_normal(n + 1))  # differencing tilts the noise towards hiss
    return 0.25 * noise * np.hanning(n)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w']+|[.!?]", text)


@lru_cache(maxsize=4096)
def _token_ulaw(token: str, voice: str, rate: float) -> bytes:
    if token in ".!?":
        return float_to_ulaw(np.zeros(int(_SENTENCE_GAP_S / rate * SAMPLE_RATE)))
    seed = int.from_bytes(hashlib.sha256(f"{voice}:{token}".encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    f0 = _VOICES.get(voice, 140.0)
    parts: list[npt.NDArray[np.float64]] = []
    for vowel in _syllables(token):
        parts.append(_consonant(0.04 / rate, rng))
        parts.append(_vowel(vowel, _SYLLABLE_S / rate * rng.uniform(0.8, 1.2), f0, rng))
    audio = np.concatenate(parts)
    audio /= float(np.max(np.abs(audio))) or 1.0
    gap = np.zeros(int(_WORD_GAP_S / rate * SAMPLE_RATE))
    return float_to_ulaw(np.concatenate([audio, gap]), peak=0.5)


def iter_speech_ulaw(text: str, voice: str = "alloy", rate: float = 1.0) -> Iterator[bytes]:
    """8 kHz μ-law speech-like audio for ``text``, one word at a time.

    A word takes a millisecond or two to synthesize (then it is cached), so a caller on
    the event loop can yield between words and never stall the other calls.
    """
    for token in _tokens(text):
        yield _token_ulaw(token.lower(), voice, rate)


def speech_ulaw(text: str, voice: str = "alloy", rate: float = 1.0) -> bytes:
    """8 kHz μ-law speech-like audio for the whole of ``text``."""
    return b"".join(iter_speech_ulaw(text, voice, rate))
