"""WAV audio cut into pieces a speech-to-text upload limit accepts.

OpenAI's transcription takes files up to 25 MB; Twilio's recordings are 16-bit PCM WAV at
8 kHz (16 kB a second a channel), so a mono call longer than about 27 minutes, or a
dual-channel one longer than about 13, is refused whole (HTTP 413). Cutting on frame
boundaries keeps each piece a valid WAV file with the recording's own format.
"""

from __future__ import annotations

import io
import wave

#: Room for the RIFF header each piece gets.
_HEADER_BYTES = 44


def wav_pieces(audio: bytes, max_bytes: int) -> list[bytes]:
    """``audio`` as WAV files of at most ``max_bytes`` each, in order.

    Audio within the limit, or that is not PCM WAV (``wave`` cannot read it), is returned
    whole: the provider then accepts it or says why not.
    """
    if len(audio) <= max_bytes:
        return [audio]
    try:
        with wave.open(io.BytesIO(audio), "rb") as source:
            params = source.getparams()
            frames = source.readframes(params.nframes)
    except (wave.Error, EOFError):
        return [audio]
    frame_bytes = params.sampwidth * params.nchannels
    step = max((max_bytes - _HEADER_BYTES) // frame_bytes, 1) * frame_bytes
    pieces = []
    for start in range(0, len(frames), step):
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as piece:
            piece.setparams(params)
            piece.writeframes(frames[start : start + step])
        pieces.append(buffer.getvalue())
    return pieces or [audio]
