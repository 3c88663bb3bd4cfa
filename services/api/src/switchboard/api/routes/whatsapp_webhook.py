"""``POST /webhooks/twilio/whatsapp``: Twilio's inbound WhatsApp messages, stored and queued.

The route checks Twilio's signature, stores the message and enqueues its processing in one
transaction, and answers empty TwiML at once: the reply is sent later through the REST API.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response, status
from twilio.request_validator import RequestValidator

from switchboard.common.logging import get_logger
from switchboard.common.settings import get_settings
from switchboard.common.whatsapp.inbound import InboundMessage
from switchboard.common.whatsapp.inbound_store import InboundStore

log = get_logger(__name__)
router = APIRouter(tags=["whatsapp"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class _Form(dict[str, str]):
    """Form fields, last value wins; ``getall`` is what the ``twilio`` validator asks first
    (a plain dict makes it fail two lookups per field, twice per request)."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


def _form_fields(request: Request, body: bytes) -> dict[str, str]:
    """Twilio's ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="expected an application/x-www-form-urlencoded body, as Twilio sends",
        )
    try:
        return _Form(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="form body is not UTF-8") from exc


async def signed_twilio_form(request: Request) -> dict[str, str]:
    """The webhook's form fields, once Twilio's ``X-Twilio-Signature`` checks out (else 403)."""
    settings = get_settings()
    params = _form_fields(request, await request.body())
    base = (settings.api_public_base_url or settings.api_base_url).rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        log.warning("whatsapp.bad_signature", path=request.url.path)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="invalid Twilio signature")
    return params


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
async def whatsapp_inbound(request: Request) -> Response:
    """Store the inbound message (once per ``MessageSid``) and queue the agent's reply.

    The hot path of the API: one parameter (no dependency resolution), the form parsed from
    the raw body, and the store chosen by the app's lifespan (see ``inbound_store.py``).
    """
    message = _inbound_message(await signed_twilio_form(request))
    store: InboundStore = request.app.state.whatsapp_inbound
    business_id = await store.business_for(message.to_number)
    if business_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no business answers this number")
    stored = await store.store(business_id, message)
    log.info("whatsapp.inbound", business_id=business_id, sid=message.message_sid, new=bool(stored))
    return Response(EMPTY_TWIML, media_type="application/xml")
