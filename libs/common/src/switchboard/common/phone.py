"""Phone numbers in E.164 form: ``+``, a country code and at most 15 digits in all.

The only form Twilio sends in its webhooks and accepts for a ``To``; anything else (``12345``,
``+1``, an empty string) is refused at the edge rather than stored and dialed later.
"""

from __future__ import annotations

import re

#: ``+`` then 7 to 15 digits, the first not 0 (the ITU's limit; no real number is shorter).
#: ASCII digits only: ``\d`` would take any Unicode digit (``+1555٣٣٣8888``, fullwidth
#: ``０``), stored and dialled as is, and one number written two ways would be two leads.
#: The API publishes this pattern in its OpenAPI description too.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
EXAMPLE = "+15551234567"


def is_e164(number: str | None) -> bool:
    """Whether ``number`` is a phone number in E.164 form, exactly (no spaces, no prefix)."""
    return number is not None and E164.fullmatch(number) is not None


def is_whatsapp_or_e164(address: str | None) -> bool:
    """Whether ``address`` is ``whatsapp:+E164`` or ``+E164``, as Twilio's webhooks give it."""
    return address is not None and is_e164(address.removeprefix("whatsapp:"))
