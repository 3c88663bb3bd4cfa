"""A call's bounded queue of agent audio, cut into 20 ms frames with playback marks.

Frames are turned into Twilio JSON once, when they are queued, so the paced transmit
loop only pops strings and sends them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from switchboard.voice_gateway.domain.codecs import FRAME_BYTES, FRAME_MS, ULAW_SILENCE
from switchboard.voice_gateway.domain.playback import PlaybackMark, text_mark_name
from switchboard.voice_gateway.twilio.serializer import TwilioMediaSerializer


@dataclass(frozen=True, slots=True)
class MarkEntry:
    """A mark to send right after the frame before it (``playback`` is None for text marks)."""

    message: str
    playback: PlaybackMark | None


class TransmitBuffer:
    """Agent audio waiting to be paced out: JSON media strings and marks, oldest first."""

    def __init__(self, stream_sid: str, max_frames: int, mark_every_ms: int) -> None:
        self._sid = stream_sid
        self._max_frames = max_frames
        self._mark_every_ms = mark_every_ms
        self._entries: deque[str | MarkEntry] = deque()
        self._frames = 0
        self._carry = b""
        self.item_id: str | None = None
        self.item_ms = 0
        self._last_mark_ms = 0
        self.dropped = 0

    @property
    def frames(self) -> int:
        """Media frames queued."""
        return self._frames

    def __bool__(self) -> bool:
        return bool(self._entries)

    def _begin(self, item_id: str) -> None:
        if item_id != self.item_id:
            self.finish()
            self.item_id, self.item_ms, self._last_mark_ms = item_id, 0, 0

    def add_text(self, item_id: str, text: str) -> None:
        """Queue a mark carrying the words of answer ``item_id``."""
        self._begin(item_id)
        name = text_mark_name(text)
        self._entries.append(MarkEntry(TwilioMediaSerializer.mark(self._sid, name), None))

    def add_audio(self, item_id: str, payload: bytes) -> None:
        """Queue audio of answer ``item_id``; a new answer finishes the previous one."""
        self._begin(item_id)
        data = self._carry + payload
        whole = len(data) - len(data) % FRAME_BYTES
        self._carry = data[whole:]
        for start in range(0, whole, FRAME_BYTES):
            self._push_frame(data[start : start + FRAME_BYTES])

    def finish(self) -> None:
        """The current answer is complete: flush its last partial frame and mark its end."""
        if self.item_id is None:
            return
        if self._carry:
            self._push_frame(self._carry + bytes([ULAW_SILENCE]) * (FRAME_BYTES - len(self._carry)))
            self._carry = b""
        if self.item_ms > self._last_mark_ms:
            self._push_mark()

    def _push_frame(self, frame: bytes) -> None:
        if self._frames >= self._max_frames:
            self.dropped += 1
            return
        self._entries.append(TwilioMediaSerializer.media(self._sid, frame))
        self._frames += 1
        self.item_ms += FRAME_MS
        if self.item_ms - self._last_mark_ms >= self._mark_every_ms:
            self._push_mark()

    def _push_mark(self) -> None:
        assert self.item_id is not None
        mark = PlaybackMark(self.item_id, self.item_ms)
        self._entries.append(MarkEntry(TwilioMediaSerializer.mark(self._sid, mark.name), mark))
        self._last_mark_ms = self.item_ms

    def pop(self) -> str | MarkEntry:
        """The oldest entry (check truthiness first)."""
        entry = self._entries.popleft()
        match entry:
            case str():
                self._frames -= 1
        return entry

    def next_is_mark(self) -> bool:
        """True if the oldest entry is a mark."""
        return bool(self._entries) and type(self._entries[0]) is MarkEntry

    def pop_mark(self) -> MarkEntry | None:
        """The oldest entry if it is a mark (sent without waiting for a tick), else None."""
        if self._entries:
            match self._entries[0]:
                case MarkEntry() as mark:
                    self._entries.popleft()
                    return mark
        return None

    def clear(self) -> None:
        """Drop everything queued (barge-in)."""
        self._entries.clear()
        self._frames = 0
        self._carry = b""
        self.item_id = None
