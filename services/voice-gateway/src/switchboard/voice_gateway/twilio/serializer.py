"""The Twilio Media Streams wire format, in one pure class.

``deserialize`` turns Twilio's JSON text into an internal frame, or raises ``ProtocolError``
for anything else: every field is checked for its type, so no message can raise another
error and end the socket without a close frame. ``media`` / ``mark`` / ``clear`` build the
JSON we send back. Outbound media is formatted by hand: it is the hottest path of every
call, and the only variable parts are base64 text and a stream sid we validated at start.

Caller audio as Twilio writes it is matched by one regular expression (~0.8 µs, a third of
parsing it); other inbound messages are parsed with orjson; what orjson refuses goes through
the standard library's parser as well, so a message is accepted or refused, and refused for
the same reason, exactly as the standard parser would.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

import orjson

from switchboard.voice_gateway.domain.frames import (
    CallerAudio,
    Connected,
    Dtmf,
    InboundFrame,
    MarkPlayed,
    ProtocolError,
    StreamStart,
    StreamStop,
)

#: A 20 ms frame is ~300 characters of JSON; anything near this is not a sane message.
MAX_MESSAGE_CHARS = 64 * 1024
#: Twilio sends 20 ms chunks; allow up to one second of audio in one message.
MAX_AUDIO_BYTES = 8000
#: Sequence numbers, timestamps and rates fit in 15 digits (Twilio sends some as strings).
_MAX_DIGITS = 15
#: Base64 of at most MAX_AUDIO_BYTES: 4 characters per 3 bytes, the last group padded with
#: ``=`` (one per byte it lacks). Strict base64 has a length that is a multiple of 4, so its
#: length and padding tell the size it decodes to: ``len // 4 * 3`` less one per ``=``.
_MAX_PAYLOAD_CHARS = -(-MAX_AUDIO_BYTES // 3) * 4
#: The ``=`` a payload of ``_MAX_PAYLOAD_CHARS`` ends with to stay within MAX_AUDIO_BYTES.
_FULL_PAYLOAD_PADDING = "=" * (_MAX_PAYLOAD_CHARS // 4 * 3 - MAX_AUDIO_BYTES)
_SID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
#: A caller audio message exactly as Twilio writes it (compact, its key order, numbers as
#: strings): read without a JSON parser. Anything else takes the general path.
_TWILIO_MEDIA = re.compile(
    r'\{"event":"media","sequenceNumber":"([0-9]{1,15})","media":\{"track":"inbound",'
    r'"chunk":"[0-9]{1,15}","timestamp":"([0-9]{1,15})","payload":"([A-Za-z0-9+/=]{0,'
    + str(_MAX_PAYLOAD_CHARS)
    + r'})"\},"streamSid":"([A-Za-z0-9_-]{1,64})"\}'
)
_MARK_NAME = re.compile(r"\A[^\"\\\x00-\x1f]{1,256}\Z")


def _oversized(payload: str) -> bool:
    """Whether ``payload``, were it base64, decodes to more than MAX_AUDIO_BYTES: told by its
    length and padding, without decoding it (a length no multiple of 4 is not base64)."""
    return len(payload) > _MAX_PAYLOAD_CHARS or (
        len(payload) == _MAX_PAYLOAD_CHARS and not payload.endswith(_FULL_PAYLOAD_PADDING)
    )


def _number(value: Any, what: str) -> int:
    """A non-negative integer sent as a JSON number or a string of digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) <= _MAX_DIGITS:
            return int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 10**_MAX_DIGITS:
            return value
    raise ProtocolError(f"invalid {what}")


def _sequence(message: dict[str, Any]) -> int:
    try:
        return _number(message["sequenceNumber"], "sequenceNumber")
    except (KeyError, ProtocolError) as exc:
        raise ProtocolError("missing or invalid sequenceNumber") from exc


def _shown(value: Any) -> str:
    # What a client sent, short enough for a log line and a close frame.
    return repr(value)[:40]


def _sid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SID.match(value):
        raise ProtocolError(f"invalid {what}")
    return value


def _stream_sid(message: dict[str, Any]) -> str | None:
    """The ``streamSid`` a message after ``start`` names, None if none (the guard judges)."""
    value = message.get("streamSid")
    return None if value is None else _sid(value, "streamSid")


def _plain_media(message: dict[str, Any]) -> CallerAudio | None:
    """The audio of a media message as Twilio sends it (numbers as strings), else None.

    Fifty times a second per call: checks only what ``_frame`` checks, in fewer steps; any
    message it does not accept goes through ``_frame``, which accepts it or says why not.
    """
    media = message.get("media")
    if type(media) is not dict:
        return None
    payload = media.get("payload")
    sequence = message.get("sequenceNumber")
    timestamp = media.get("timestamp", "0")
    stream_sid = message.get("streamSid")
    if not (
        (stream_sid is None or (type(stream_sid) is str and _SID.match(stream_sid)))
        and type(payload) is str
        and not _oversized(payload)
        and media.get("track", "inbound") == "inbound"
        and type(sequence) is str
        and sequence.isdigit()
        and sequence.isascii()
        and len(sequence) <= _MAX_DIGITS
        and type(timestamp) is str
        and timestamp.isdigit()
        and timestamp.isascii()
        and len(timestamp) <= _MAX_DIGITS
    ):
        return None
    try:
        audio = binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return CallerAudio(int(sequence), int(timestamp), audio, stream_sid)


class TwilioMediaSerializer:
    """Converts between Twilio Media Streams JSON and internal frames; holds no state."""

    max_message_chars = MAX_MESSAGE_CHARS

    @staticmethod
    def plain_audio(text: str) -> tuple[int, int, bytes, str] | None:
        """The sequence number, timestamp, audio and stream sid of a caller audio message
        exactly as Twilio writes it, else None (``deserialize`` then reads it, or says what is
        wrong)."""
        plain = _TWILIO_MEDIA.fullmatch(text)
        if plain is None:
            return None
        payload = plain[3]
        if _oversized(payload):  # the pattern bounds its length, not what its padding says
            return None
        try:
            audio = binascii.a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError):
            return None
        return int(plain[1]), int(plain[2]), audio, plain[4]

    def deserialize(self, text: str) -> InboundFrame:
        """Parse one websocket text message from Twilio."""
        plain = self.plain_audio(text)
        if plain is not None:
            return CallerAudio(*plain)
        if len(text) > self.max_message_chars:
            raise ProtocolError(f"oversized message ({len(text)} characters)", "oversized")
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            # NaN, lone surrogates, 1,024 levels deep: valid for json, not for orjson.
            try:
                message = json.loads(text)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise ProtocolError("malformed JSON") from exc
        if not isinstance(message, dict):
            raise ProtocolError("message is not an object")
        if message.get("event") == "media":
            audio = _plain_media(message)
            if audio is not None:
                return audio
        try:
            return self._frame(message)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProtocolError(f"malformed {_shown(message.get('event'))} message") from exc

    def _frame(self, message: dict[str, Any]) -> InboundFrame:
        event = message.get("event")
        if event == "media":
            media = message["media"]
            if media.get("track", "inbound") != "inbound":
                raise ProtocolError("media for a track we did not ask for")
            payload = media["payload"]
            if _oversized(payload):
                raise ProtocolError("oversized audio payload", "oversized")
            try:  # base64.b64decode(payload, validate=True) without its wrapper
                audio = binascii.a2b_base64(payload, strict_mode=True)
            except (binascii.Error, ValueError) as exc:
                raise ProtocolError("audio payload is not base64") from exc
            timestamp = _number(media.get("timestamp", 0), "media timestamp")
            return CallerAudio(_sequence(message), timestamp, audio, _stream_sid(message))
        if event == "mark":
            name = message["mark"]["name"]
            if not isinstance(name, str):
                raise ProtocolError("mark name is not a string")
            return MarkPlayed(_sequence(message), name, _stream_sid(message))
        if event == "start":
            start = message["start"]
            parameters = start.get("customParameters") or {}
            if not isinstance(parameters, dict):
                raise ProtocolError("customParameters is not an object")
            media_format = start.get("mediaFormat") or {}
            return StreamStart(
                sequence=_sequence(message),
                stream_sid=_sid(message.get("streamSid") or start.get("streamSid"), "streamSid"),
                call_sid=_sid(start["callSid"], "callSid"),
                account_sid=str(start.get("accountSid", "")),
                parameters={str(k): str(v) for k, v in parameters.items()},
                encoding=str(media_format.get("encoding", "audio/x-mulaw")),
                sample_rate=_number(media_format.get("sampleRate", 8000), "sampleRate"),
            )
        if event == "dtmf":
            return Dtmf(_sequence(message), str(message["dtmf"]["digit"]), _stream_sid(message))
        if event == "stop":
            return StreamStop(_sequence(message), _stream_sid(message))
        if event == "connected":
            return Connected(str(message.get("protocol", "")))
        raise ProtocolError(f"unknown event {_shown(event)}", "unknown_event")

    @staticmethod
    def media(stream_sid: str, payload: bytes) -> str:
        """The JSON that plays ``payload`` (μ-law) to the caller."""
        encoded = binascii.b2a_base64(payload, newline=False).decode("ascii")
        return (
            '{"event":"media","streamSid":"'
            + stream_sid
            + '","media":{"payload":"'
            + encoded
            + '"}}'
        )

    @staticmethod
    def mark(stream_sid: str, name: str) -> str:
        """The JSON asking Twilio to echo ``name`` once everything sent before it has played."""
        if not _MARK_NAME.match(name):
            return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})
        return '{"event":"mark","streamSid":"' + stream_sid + '","mark":{"name":"' + name + '"}}'

    @staticmethod
    def clear(stream_sid: str) -> str:
        """The JSON that drops every bit of audio Twilio has buffered but not yet played."""
        return '{"event":"clear","streamSid":"' + stream_sid + '"}'
