"""What a customer sent besides text, told in words the agent and the business can read.

Twilio's inbound form carries a photo, voice note, video, document or contact card as
``NumMedia`` with ``MediaContentType{i}``/``MediaUrl{i}``, and a shared location as
``Latitude``/``Longitude`` (with ``Address``/``Label`` for a named place), often with an empty
``Body``. Stored as the ``Body`` alone, such a message is an empty line the agent answers as a
greeting. The stored text gets a bracketed note instead (``[sent a photo]``), so the agent
answers what arrived and the conversation shows it; the WhatsApp prompt tells the agent what
such a line means (``businesses.prompts``).

The media stay at Twilio: their URLs are not kept or logged. Each one is a private link to the
customer's file (fetched with the account's credentials), and Switchboard neither downloads nor
shows media; the note says what kind of file came, not where it is.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Twilio attaches at most 10 media to one message.
MAX_MEDIA = 10

#: The words for a content type, by its exact type, then by its family (``image/…``).
_KINDS = {
    "image/webp": "a sticker",  # WhatsApp's stickers are WebP images
    "text/vcard": "a contact card",
    "text/x-vcard": "a contact card",
    "image": "a photo",
    "audio": "a voice note",
    "video": "a video",
}
_DOCUMENT = "a document"


def _kind(content_type: str) -> str:
    """``image/jpeg`` → ``a photo``; anything unknown is a document."""
    content_type = content_type.split(";", 1)[0].strip().lower()
    return _KINDS.get(content_type) or _KINDS.get(content_type.split("/", 1)[0], _DOCUMENT)


def _media_count(form: Mapping[str, str]) -> int:
    """``NumMedia`` within Twilio's bounds, or the typed media present if it is not a number."""
    try:
        count = int(form.get("NumMedia", "0") or "0")
    except ValueError:
        count = sum(1 for i in range(MAX_MEDIA) if form.get(f"MediaContentType{i}"))
    return max(0, min(count, MAX_MEDIA))


def _media_note(form: Mapping[str, str]) -> str | None:
    kinds: dict[str, int] = {}
    for i in range(_media_count(form)):
        kind = _kind(form.get(f"MediaContentType{i}", ""))
        kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        return None
    parts = [kind if n == 1 else f"{n} {kind.split(' ', 1)[1]}s" for kind, n in kinds.items()]
    return "[sent " + " and ".join(parts) + "]"


def _location_note(form: Mapping[str, str]) -> str | None:
    latitude, longitude = form.get("Latitude", "").strip(), form.get("Longitude", "").strip()
    if not (latitude and longitude):
        return None
    named = (form.get("Label", "").strip(), form.get("Address", "").strip())
    place = ", ".join(part for part in named if part)
    where = f"{place} ({latitude}, {longitude})" if place else f"{latitude}, {longitude}"
    return f"[shared a location: {where}]"


def inbound_text(form: Mapping[str, str]) -> str:
    """The text an inbound message is stored and answered as: its ``Body`` (kept as sent,
    whitespace and all) followed by a note for each attachment or shared location."""
    body = form.get("Body", "")
    notes = [note for note in (_media_note(form), _location_note(form)) if note]
    if not notes:
        return body
    return "\n".join(([body] if body.strip() else []) + notes)
