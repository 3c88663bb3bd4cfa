"""Which telephony a process uses: Twilio, or the built-in sandbox (``TELEPHONY``)."""

from __future__ import annotations

from typing import Literal

from switchboard.common.integrations.twilio_rest import TWILIO_PUBLIC_BASE_URL
from switchboard.common.settings import Settings

Telephony = Literal["twilio", "sandbox"]


def telephony_mode(settings: Settings) -> Telephony:
    """``TELEPHONY`` when set; else the sandbox when there are no real Twilio credentials.

    No real credentials means the embedded mode, or the development environment with the
    development auth token. A ``TWILIO_API_BASE_URL`` moved off Twilio's own names a server
    that speaks Twilio's protocol (a local fake or a proxy), so it keeps Twilio by default.
    """
    if settings.telephony:
        return settings.telephony
    if settings.twilio_api_base_url.rstrip("/") != TWILIO_PUBLIC_BASE_URL:
        return "twilio"
    development_token = (
        settings.environment == "development"
        and settings.twilio_auth_token == Settings.model_fields["twilio_auth_token"].default
    )
    return "sandbox" if settings.embedded or development_token else "twilio"
