"""``X-Twilio-Signature`` checks (``common.integrations.twilio_signature``).

Twilio signs the URL it called — the public one, not the one behind our proxy — so the
URL is rebuilt from ``PUBLIC_BASE_URL`` plus the request's path and query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchboard.common.integrations.twilio_signature import TwilioRequestValidator
from switchboard.voice_gateway.twilio.twiml import media_stream_url


class TwilioSignatureChecker:
    """Validates webhook and websocket-upgrade signatures against the public base URL."""

    def __init__(self, auth_token: str, public_base_url: str, stream_base_url: str = "") -> None:
        """``stream_base_url``: where the TwiML sends the media stream, if not the public
        base URL (``GATEWAY__STREAM_BASE_URL``); Twilio signs the upgrade for that URL."""
        self._validator = TwilioRequestValidator(auth_token)
        self._public_base_url = public_base_url.rstrip("/")
        self._stream_url = media_stream_url(stream_base_url or public_base_url)

    def public_url(self, path: str, query: str) -> str:
        """The URL Twilio called for ``path`` and ``query``."""
        return self._public_base_url + path + (f"?{query}" if query else "")

    def webhook_is_signed(
        self, path: str, query: str, form: Mapping[str, Any], signature: str | None
    ) -> bool:
        """True if ``signature`` is Twilio's for this POST."""
        if not signature:
            return False
        return bool(self._validator.validate(self.public_url(path, query), form, signature))

    def websocket_is_signed(self, query: str, signature: str) -> bool:
        """True if ``signature`` is Twilio's for the media websocket URL."""
        url = self._stream_url + (f"?{query}" if query else "")
        return bool(self._validator.validate(url, {}, signature))
