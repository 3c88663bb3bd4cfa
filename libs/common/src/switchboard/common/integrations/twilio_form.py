"""The body of a Twilio webhook, read as Twilio sends it, before any signature work.

Twilio POSTs ``application/x-www-form-urlencoded`` UTF-8 of a few hundred bytes to a few
kilobytes, never a file. Anything else is refused here with the status docs/api.md gives it:
not a form 415, over ``MAX_FORM_BYTES`` 413, not UTF-8 400. The API's WhatsApp webhook and the
voice gateway's four Voice webhooks read their forms with these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

#: Twilio's form for one message or call event is a few hundred bytes to a few kilobytes.
MAX_FORM_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
SIGNATURE_REFUSED = "invalid Twilio signature"


class WebhookRefused(Exception):  # noqa: N818 - reads as what happened to the request
    """The request is answered ``status`` with ``{"detail": detail}`` and nothing is done."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class TwilioForm(dict[str, str]):
    """Form fields, last value wins; ``getall`` is what the ``twilio`` validator asks first
    (a plain dict makes it fail two lookups per field, twice per request)."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


def refuse_if_too_large(size: int) -> None:
    """A 413 once a body being read is over ``MAX_FORM_BYTES``."""
    if size > MAX_FORM_BYTES:
        raise WebhookRefused(413, f"form body larger than {MAX_FORM_BYTES} bytes")


def read_form(content_type: str, body: bytes) -> TwilioForm:
    """The fields of a form body, or ``WebhookRefused`` if Twilio would never send it."""
    refuse_if_too_large(len(body))
    if not content_type.startswith(FORM_TYPE):
        raise WebhookRefused(415, f"expected an {FORM_TYPE} body, as Twilio sends")
    try:
        return TwilioForm(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise WebhookRefused(400, "form body is not UTF-8") from exc


def refuse_nul(form: Mapping[str, str], names: tuple[str, ...]) -> None:
    """A 400 naming the fields among ``names`` that hold a NUL character: never in an id or a
    number Twilio sends, and PostgreSQL can neither store nor look up text holding one."""
    broken = [name for name in names if "\x00" in form.get(name, "")]
    if broken:
        raise WebhookRefused(400, f"NUL character in form field(s): {', '.join(broken)}")


def read_signed_form(
    content_type: str, body: bytes, signature: str, is_signed: Callable[[TwilioForm], bool]
) -> TwilioForm:
    """The fields of a webhook's form, its signature checked before anything else about it.

    A request Twilio did not sign is 403 however else it is wrong, so a caller without the
    auth token learns nothing of what the webhook accepts: no signature at all is refused
    before the body is looked at; a body that is no form (415, 400) is signed by nobody,
    unless ``is_signed`` the URL with no fields, and only then is its own fault the answer.
    (A body over ``MAX_FORM_BYTES`` is still 413: it is refused before it could be checked.)
    """
    if not signature:
        raise WebhookRefused(403, SIGNATURE_REFUSED)
    try:
        form = read_form(content_type, body)
    except WebhookRefused as unreadable:
        if unreadable.status != 413 and not is_signed(TwilioForm()):
            raise WebhookRefused(403, SIGNATURE_REFUSED) from unreadable
        raise
    if not is_signed(form):
        raise WebhookRefused(403, SIGNATURE_REFUSED)
    return form
