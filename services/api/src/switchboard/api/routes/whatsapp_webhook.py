"""``POST /webhooks/twilio/whatsapp``: Twilio's inbound WhatsApp messages, stored and queued.

The route checks Twilio's signature, stores the message and enqueues its processing in one
transaction, and answers empty TwiML at once: the reply is sent later through the REST API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from twilio.request_validator import RequestValidator

from switchboard.api.deps import SettingsDep
from switchboard.common.logging import get_logger
from switchboard.common.whatsapp.inbound import (
    InboundMessage,
    business_for_whatsapp_number,
    store_inbound,
)

log = get_logger(__name__)
router = APIRouter(tags=["whatsapp"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def signed_twilio_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The webhook's form fields, once Twilio's ``X-Twilio-Signature`` checks out (else 403)."""
    form = await request.form()
    params = {key: str(value) for key, value in form.items()}
    base = (settings.api_public_base_url or settings.api_base_url).rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        log.warning("whatsapp.bad_signature", path=request.url.path)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="invalid Twilio signature")
    return params


@router.post("/webhooks/twilio/whatsapp", response_class=Response)
def whatsapp_inbound(params: Annotated[dict[str, str], Depends(signed_twilio_form)]) -> Response:
    """Store the inbound message (once per ``MessageSid``) and queue the agent's reply."""
    try:
        message = InboundMessage(
            message_sid=params["MessageSid"],
            from_number=params["From"],
            to_number=params["To"],
            body=params.get("Body", ""),
        )
    except KeyError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"missing field {exc}") from exc
    business_id = business_for_whatsapp_number(message.to_number)
    if business_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no business answers this number")
    stored = store_inbound(business_id, message)
    log.info("whatsapp.inbound", business_id=business_id, sid=message.message_sid, new=bool(stored))
    return Response(EMPTY_TWIML, media_type="application/xml")
