"""Reading a recording's download back as bytes, as the tests of the Twilio adapters do."""

from __future__ import annotations

import io

from switchboard.common.integrations.twilio_rest import AudioFormat, TwilioRest
from switchboard.common.settings import Settings

#: The deployment's default bound on a recording's size.
DEFAULT_MAX_BYTES = Settings().recording_max_bytes


def downloaded(
    twilio: TwilioRest,
    recording_sid: str,
    audio_format: AudioFormat = "wav",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """What ``download_recording`` wrote."""
    into = io.BytesIO()
    size = twilio.download_recording(
        recording_sid, into, max_bytes=max_bytes, audio_format=audio_format
    )
    assert size == len(into.getvalue())
    return into.getvalue()
