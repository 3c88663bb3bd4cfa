"""Internal frames: what the call session sees instead of Twilio's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Connected:
    """The stream's socket is open (Twilio's first message)."""

    protocol: str


@dataclass(frozen=True, slots=True)
class StreamStart:
    """The stream started: which call, and the custom parameters our TwiML gave it."""

    sequence: int
    stream_sid: str
    call_sid: str
    account_sid: str
    parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


class CallerAudio(NamedTuple):
    """One chunk of the caller's μ-law audio (normally 20 ms).

    A named tuple, not a frozen dataclass like the others: fifty are made per call-second,
    and a tuple is built in a third of the time (still immutable).
    """

    sequence: int
    timestamp_ms: int
    payload: bytes
    #: The ``streamSid`` the message named (None: it named none).
    stream_sid: str | None = None


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """Twilio played all audio sent before the mark of this name."""

    sequence: int
    name: str
    stream_sid: str | None = None


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The caller pressed a key."""

    sequence: int
    digit: str
    stream_sid: str | None = None


@dataclass(frozen=True, slots=True)
class StreamStop:
    """The stream ended (the caller hung up or the call moved on)."""

    sequence: int
    stream_sid: str | None = None


InboundFrame = Connected | StreamStart | CallerAudio | MarkPlayed | Dtmf | StreamStop


class ProtocolError(ValueError):
    """A message that breaks the Media Streams protocol; it ends that call, nothing else.

    ``reason`` says what was wrong (sent back in the close frame and logged); ``kind`` is one
    of a few fixed words that label the metric: ``malformed``, ``oversized``,
    ``unknown_event``, ``out_of_order``, ``unsupported_format``.
    """

    def __init__(self, reason: str, kind: str = "malformed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


_OUT_OF_ORDER = "out_of_order"
_WRONG_STREAM = "wrong_stream_sid"


class SequenceGuard:
    """Enforces the order Twilio promises: connected, start, then increasing sequence numbers.

    ``connected`` comes once at most: before ``start`` (and its token) nothing else is sent,
    so a socket without a token has two messages to make its case, not a flood of them.

    Twilio names the stream (``streamSid``) on every message after ``connected``: caller
    audio must name the one ``start`` announced (audio of another stream, or of none, is
    never the caller's of this call); a mark, key or stop that names one must name it too
    (one that names none is taken: it carries no audio).
    """

    def __init__(self) -> None:
        self.connected = False
        self.started = False
        self.stopped = False
        self.stream_sid: str | None = None
        self.last_sequence = 0
        self.gaps = 0

    def next_audio(self, sequence: int, stream_sid: str | None) -> bool:
        """Take caller audio numbered ``sequence`` if it is the usual case: the stream has
        started, not stopped, the audio names it, and this is the next number. Else False:
        ``check`` its frame."""
        if (
            sequence == self.last_sequence + 1
            and stream_sid == self.stream_sid
            and self.started
            and not self.stopped
        ):
            self.last_sequence = sequence
            return True
        return False

    def check(self, frame: InboundFrame) -> None:
        """Raise ``ProtocolError`` if ``frame`` cannot come now."""
        if type(frame) is CallerAudio and self.next_audio(frame.sequence, frame.stream_sid):
            return
        if isinstance(frame, Connected):
            if self.started:
                raise ProtocolError("connected after start", _OUT_OF_ORDER)
            if self.connected:
                raise ProtocolError("second connected", _OUT_OF_ORDER)
            self.connected = True
            return
        if self.stopped:
            raise ProtocolError("message after stop", _OUT_OF_ORDER)
        if isinstance(frame, StreamStart):
            if self.started:
                raise ProtocolError("second start", _OUT_OF_ORDER)
            self.started = True
            self.stream_sid = frame.stream_sid
        elif not self.started:
            raise ProtocolError(f"{type(frame).__name__} before start", _OUT_OF_ORDER)
        elif frame.stream_sid != self.stream_sid:
            if frame.stream_sid is not None:
                raise ProtocolError(f"{type(frame).__name__} of another stream", _WRONG_STREAM)
            if type(frame) is CallerAudio:
                raise ProtocolError("CallerAudio without streamSid", _WRONG_STREAM)
        if frame.sequence <= self.last_sequence:
            raise ProtocolError(
                f"sequence number {frame.sequence} after {self.last_sequence} (out of order)",
                _OUT_OF_ORDER,
            )
        if frame.sequence != self.last_sequence + 1:
            self.gaps += 1
        self.last_sequence = frame.sequence
        if isinstance(frame, StreamStop):
            self.stopped = True
