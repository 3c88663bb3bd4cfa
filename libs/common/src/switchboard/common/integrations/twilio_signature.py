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

The default algorithm (HMAC-SHA1 of the URL and the sorted fields) is computed here as the
library does, with the standard library's one-shot HMAC, compared in constant time by
``hmac.compare_digest`` (the library's ``compare`` loops in Python), and the two forms of a URL
are parsed once per URL, not per request: together a third of the check's cost on the
WhatsApp webhook. Other algorithms and JSON bodies take the library's own path.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from twilio.request_validator import HMAC_SHA1, RequestValidator, add_port, remove_port

from switchboard.common.integrations.twilio_form import TwilioForm


class TwilioRequestValidator(RequestValidator):  # type: ignore[misc]  # untyped library
    """``RequestValidator`` that stops at the first URL form whose signature matches."""

    def validate(self, uri: str, params: Any, signature: str, algorithm: str | None = None) -> bool:
        if algorithm is not None or not isinstance(params, Mapping | None):
            # Another algorithm, or a JSON body checked by its hash: the library's own path.
            return bool(super().validate(uri, params, signature, algorithm))
        if params and not all(isinstance(value, str) for _, value in _items(params)):
            return False
        if not signature.isascii():  # a signature is base64: nothing else matches
            return False
        expected = signature.encode()
        return any(
            hmac.compare_digest(self.compute_signature(form, params or {}).encode(), expected)
            for form in _url_forms(uri)
        )

    def compute_signature(self, uri: str, params: Any, algorithm: str | None = None) -> str:
        if algorithm is not None and algorithm.upper() != HMAC_SHA1:
            return str(super().compute_signature(uri, params, algorithm))
        signed = uri
        if type(params) is dict or type(params) is TwilioForm:  # one value per field
            signed += "".join(name + params[name] for name in sorted(params))
        elif params:
            signed += "".join(
                name + value
                for name in sorted(set(params))
                for value in sorted(set(self.get_values(params, name)))
            )
        return base64.b64encode(hmac.digest(self.token, signed.encode(), "sha1")).decode()


@lru_cache(maxsize=64)
def _url_forms(uri: str) -> tuple[str, str]:
    """The URL without its port, then with it: the two forms Twilio's back ends sign."""
    parsed = urlparse(uri)
    return remove_port(parsed), add_port(parsed)


def _items(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every (name, value) of a form, each value of a repeated field too (a multi-dict's)."""
    multi_items = getattr(params, "multi_items", None)
    return list(multi_items()) if callable(multi_items) else list(params.items())
