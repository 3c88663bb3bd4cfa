"""What Twilio accepts as a WhatsApp message's text, and the agent's reply fitted to it.

Twilio refuses a body over 1,600 characters (error 21617), permanently: the customer would get
no answer at all. A business's own message is held to the limit where it is written (the API
says 422); the agent's reply, which nobody can rewrite, is fitted before it is stored: cut at
the last sentence or word that fits, ``…`` after it, never inside an emoji sequence or before
a combining mark. One reply per inbound message keeps the send's exactly-once rules (one row,
one sid), so a long answer is shortened, not split. (An empty answer never gets here: the
OpenAI adapter retries it, the offline rules always answer.)
"""

from __future__ import annotations

import re
import unicodedata

#: The longest body Twilio sends as one WhatsApp message (``21617`` beyond it).
MAX_BODY_CHARS = 1600
_ELLIPSIS = "…"
#: Where a cut reads well: after a sentence's end, else after a word.
_SENTENCE_END = re.compile(r"[.!?。！？]\s")
_SPACE = re.compile(r"\s")
_ZWJ = "\u200d"


def _joins_previous(char: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a variation selector,
    an emoji skin tone, a ZWJ, a tag (emoji flags of regions)."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _safe_cut(text: str, end: int) -> int:
    """The largest cut at or before ``end`` that splits no grapheme cluster we can tell."""
    while end > 0 and (_joins_previous(text[end]) or text[end - 1] == _ZWJ):
        end -= 1
    return end


def fitted_reply(reply: str) -> str:
    """The agent's reply as Twilio will take it (see the module's docstring)."""
    if len(reply) <= MAX_BODY_CHARS:
        return reply
    room = MAX_BODY_CHARS - len(_ELLIPSIS)
    head = reply[: room + 1]  # one more: a space right after the room is a word's end
    floor = room // 2  # a cut that would drop more than half is worse than a cut word
    sentence = [m.end() - 1 for m in _SENTENCE_END.finditer(head) if m.end() - 1 > floor]
    words = [m.start() for m in _SPACE.finditer(head) if m.start() > floor]
    end = sentence[-1] if sentence else words[-1] if words else _safe_cut(reply, room)
    return reply[:end].rstrip() + _ELLIPSIS
