"""The body of a Twilio webhook, read as Twilio sends it, before any signature work.

Twilio POSTs ``application/x-www-form-urlencoded`` UTF-8 of a few hundred bytes to a few
kilobytes, never a file. Anything else is refused here with the status docs/api.md gives it:
not a form 415, over ``MAX_FORM_BYTES`` 413, not UTF-8 400. The API's WhatsApp webhook and the
voice gateway's four Voice webhooks read their forms with these.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

#: Twilio's form for one message or call event is a few hundred bytes to a few kilobytes.
MAX_FORM_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


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
