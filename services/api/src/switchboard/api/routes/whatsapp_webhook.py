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
from switchboard.common.whatsapp.inbound import InboundMessage
from switchboard.common.whatsapp.inbound_store import InboundStore

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


def inbound_store(request: Request) -> InboundStore:
    """The store the app's lifespan chose (one round trip on PostgreSQL; else threaded)."""
    store: InboundStore = request.app.state.whatsapp_inbound
    return store


SignedForm = Annotated[dict[str, str], Depends(signed_twilio_form)]
InboundStoreDep = Annotated[InboundStore, Depends(inbound_store)]


def _inbound_message(params: dict[str, str]) -> InboundMessage:
    missing = [name for name in ("MessageSid", "From", "To") if not params.get(name)]
    if missing:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"missing form field(s): {', '.join(missing)}"
        )
    return InboundMessage(
        message_sid=params["MessageSid"],
        from_number=params["From"],
        to_number=params["To"],
        body=params.get("Body", ""),
    )


@router.post("/webhooks/twilio/whatsapp", response_class=Response)
async def whatsapp_inbound(params: SignedForm, store: InboundStoreDep) -> Response:
    """Store the inbound message (once per ``MessageSid``) and queue the agent's reply."""
    message = _inbound_message(params)
    business_id = await store.business_for(message.to_number)
    if business_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no business answers this number")
    stored = await store.store(business_id, message)
    log.info("whatsapp.inbound", business_id=business_id, sid=message.message_sid, new=bool(stored))
    return Response(EMPTY_TWIML, media_type="application/xml")
