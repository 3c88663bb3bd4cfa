"""Twilio Media Streams messages, as Twilio would send them, for tests."""

from __future__ import annotations

import base64
import json
import time

from switchboard.voice_gateway.domain.codecs import ULAW_SILENCE
from switchboard.voice_gateway.domain.media_token import StreamClaims, sign_media_token

SECRET = "test-media-secret"
SILENCE = bytes([ULAW_SILENCE]) * 160


def claims(call_sid: str = "CA1", business_id: int = 7, **overrides: object) -> StreamClaims:
    fields: dict[str, object] = {
        "call_sid": call_sid,
        "business_id": business_id,
        "direction": "inbound",
        "from_number": "+15557654321",
        "to_number": "+15550001111",
        "expires_at": time.time() + 60,
        **overrides,
    }
    return StreamClaims(**fields)  # type: ignore[arg-type]


def connected() -> str:
    return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def start(call_sid: str = "CA1", token: str | None = None, sequence: int = 1) -> str:
    token = sign_media_token(claims(call_sid), SECRET) if token is None else token
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": str(sequence),
            "streamSid": f"MZ{call_sid}",
            "start": {
                "streamSid": f"MZ{call_sid}",
                "accountSid": "AC1",
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": {"token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def media(sequence: int, payload: bytes = SILENCE, call_sid: str = "CA1") -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "streamSid": f"MZ{call_sid}",
            "media": {
                "track": "inbound",
                "chunk": str(sequence),
                "timestamp": str(sequence * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


def mark(sequence: int, name: str) -> str:
    return json.dumps({"event": "mark", "sequenceNumber": str(sequence), "mark": {"name": name}})


def stop(sequence: int) -> str:
    return json.dumps({"event": "stop", "sequenceNumber": str(sequence), "stop": {}})


def dtmf(sequence: int, digit: str) -> str:
    return json.dumps(
        {
            "event": "dtmf",
            "sequenceNumber": str(sequence),
            "streamSid": "MZCA1",
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
    )
