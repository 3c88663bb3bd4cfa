"""The phone rings: Twilio's signed voice webhook, and the stream the gateway's TwiML names."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
from twilio.request_validator import RequestValidator

PATH = "/twilio/voice/incoming"


async def ring(base: str, auth_token: str, form: dict[str, str]) -> dict[str, str]:
    """Post the signed incoming-call webhook ``form`` to the gateway at ``base``; return the
    ``<Parameter>``s of the ``<Stream>`` its TwiML connects (the media token among them)."""
    signature = RequestValidator(auth_token).compute_signature(base + PATH, form)
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(
            base + PATH, data=form, headers={"X-Twilio-Signature": signature}
        )
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None, response.text
    return {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
