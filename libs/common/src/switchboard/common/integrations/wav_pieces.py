"""WAV audio cut into pieces a speech-to-text upload limit accepts, read from its file.

OpenAI's transcription takes files up to 25 MB; Twilio's recordings are 16-bit PCM WAV at
8 kHz (16 kB a second a channel), so a mono call longer than about 27 minutes, or a
dual-channel one longer than about 13, is refused whole (HTTP 413). Cutting on frame
boundaries keeps each piece a valid WAV file with the recording's own format. The pieces are
read from the file one at a time: an hour's dual-channel call (115 MB) is never held whole.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator
from typing import BinaryIO

#: Room for the RIFF header each piece gets.
_HEADER_BYTES = 44


def wav_pieces(audio: BinaryIO, max_bytes: int, start: int = 0) -> Iterator[bytes]:
    """The file ``audio`` (seekable, read from its start) as WAV files of at most
    ``max_bytes`` each, in order, read as they are asked for; from the ``start``-th (counted
    from 0), the ones before it neither read nor cut, so a transcription that stopped after
    some pieces resumes at the next (the same file and limit cut the same pieces).

    Audio within the limit, or that is not PCM WAV (``wave`` cannot read it), is given whole:
    the provider then accepts it or says why not.
    """
    size = audio.seek(0, os.SEEK_END)
    audio.seek(0)
    if size <= max_bytes:
        if start == 0:
            yield audio.read()
        return
    try:
        source = wave.open(audio, "rb")  # noqa: SIM115 - closed below, the file is the caller's
    except (wave.Error, EOFError):
        if start == 0:
            audio.seek(0)
            yield audio.read()
        return
    with source:
        params = source.getparams()
        frame_bytes = params.sampwidth * params.nchannels
        step_frames = max((max_bytes - _HEADER_BYTES) // frame_bytes, 1)
        given = start > 0  # a whole file given as the first piece, never after it
        source.setpos(min(start * step_frames, source.getnframes()))
        while frames := source.readframes(step_frames):
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as piece:
                piece.setparams(params)
                piece.writeframes(frames)
            given = True
            yield buffer.getvalue()
    if not given:
        audio.seek(0)
        yield audio.read()
