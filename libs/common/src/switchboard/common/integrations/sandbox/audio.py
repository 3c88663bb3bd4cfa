"""The audio of a sandbox recording: a short silent WAV, as a real file would be shaped."""

from __future__ import annotations

import io
import wave

SAMPLE_RATE = 8000


def silent_wav(seconds: float = 1.0) -> bytes:
    """A mono 16-bit 8 kHz WAV of ``seconds`` of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"\x00\x00" * int(SAMPLE_RATE * seconds))
    return buffer.getvalue()
