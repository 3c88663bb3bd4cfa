"""What the caller has actually heard, from the marks Twilio echoes back.

The transmit path puts a mark after every few frames of an agent answer; each mark's name
says how many milliseconds of that answer precede it. When Twilio echoes the mark, those
milliseconds have been played. On barge-in the answer is cut at the last echoed mark —
what was heard — not at what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass

MARK_PREFIX = "sb"
TEXT_MARK_PREFIX = "sb-text"


@dataclass(frozen=True, slots=True)
class PlaybackMark:
    """A position in an agent answer: ``played_ms`` of answer ``item_id`` come before it."""

    item_id: str
    played_ms: int

    @property
    def name(self) -> str:
        """The mark's name on the wire."""
        return f"{MARK_PREFIX}:{self.played_ms}:{self.item_id}"

    @classmethod
    def parse(cls, name: str) -> PlaybackMark | None:
        """Read one of our marks back; None for anything else."""
        prefix, _, rest = name.partition(":")
        played, _, item_id = rest.partition(":")
        # A few ASCII digits: str.isdigit() also accepts '²', and int() refuses it and more
        # than 4,300 digits.
        number = played.isascii() and played.isdigit() and len(played) <= 15
        if prefix != MARK_PREFIX or not number or not item_id:
            return None
        return cls(item_id=item_id, played_ms=int(played))


def text_mark_name(text: str) -> str:
    """A mark that carries the words of an answer, so a Twilio simulator can show them."""
    return f"{TEXT_MARK_PREFIX}:{' '.join(text.split())[:200]}"


def text_from_mark(name: str) -> str | None:
    """The words carried by a text mark, or None if ``name`` is not one."""
    prefix, _, text = name.partition(":")
    return text if prefix == TEXT_MARK_PREFIX else None


class PlaybackTracker:
    """Tracks sent and played marks per answer; all arithmetic, no I/O."""

    def __init__(self) -> None:
        self._played_ms: dict[str, int] = {}
        self._outstanding = 0
        self._closed: set[str] = set()

    @property
    def outstanding_marks(self) -> int:
        """Marks sent whose audio Twilio has not played yet."""
        return self._outstanding

    def mark_sent(self, mark: PlaybackMark) -> None:
        """Note that a mark went out after its audio."""
        self._outstanding += 1

    def mark_played(self, name: str) -> PlaybackMark | None:
        """Record Twilio's echo of a mark; returns it if it was one of ours."""
        mark = PlaybackMark.parse(name)
        if mark is None:
            return None
        self._outstanding = max(0, self._outstanding - 1)
        if mark.item_id not in self._closed:
            previous = self._played_ms.get(mark.item_id, 0)
            self._played_ms[mark.item_id] = max(previous, mark.played_ms)
        return mark

    def played_ms(self, item_id: str) -> int:
        """Milliseconds of answer ``item_id`` the caller has heard."""
        return self._played_ms.get(item_id, 0)

    def interrupt(self, item_id: str) -> int:
        """Cut answer ``item_id`` where playback got to; later echoes of it are ignored.

        Twilio echoes the marks of cleared audio too, so the cut point must be taken now.
        """
        played = self.played_ms(item_id)
        self._closed.add(item_id)
        self._outstanding = 0
        return played


def truncate_text(text: str, played_ms: int, total_ms: int) -> str:
    """The part of an answer's text the caller heard, assuming speech evenly spread in time.

    Cuts at a word boundary and marks the cut with an ellipsis.
    """
    if total_ms <= 0 or played_ms >= total_ms:
        return text
    if played_ms <= 0:
        return ""
    words = text.split()
    kept = int(len(words) * played_ms / total_ms)
    return " ".join(words[:kept]) + "…" if kept else ""
