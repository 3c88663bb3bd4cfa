"""``POST /webhooks/twilio/whatsapp/status``: Twilio's delivery reports on the messages sent.

Every WhatsApp send names this URL as its ``StatusCallback``; the report is kept as the
message's ``delivery_status`` (sent, delivered, read), forward only, and one that it was not
delivered marks it ``failed`` with Twilio's error (``domain.whatsapp.delivery``). Signed
like the inbound webhook; an unknown number or message is answered 200 and changes nothing,
since Twilio does not send a report again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from switchboard.api.routes.whatsapp_webhook import signed_form
from switchboard.api.schemas import ErrorResponse
from switchboard.common.integrations.twilio_form import MAX_FORM_BYTES, WebhookRefused
from switchboard.common.integrations.twilio_rest import WHATSAPP_STATUS_PATH
from switchboard.common.logging import get_logger
from switchboard.domain.whatsapp.delivery import record_delivery

log = get_logger(__name__)
router = APIRouter(tags=["whatsapp"])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


@router.post(
    WHATSAPP_STATUS_PATH,
    summary="Receive a WhatsApp message's delivery status (Twilio)",
    status_code=204,
    response_class=Response,
    responses={
        400: _error("MessageSid, MessageStatus or From missing"),
        403: _error("Not signed by Twilio for this URL"),
        413: _error(f"A form body over {MAX_FORM_BYTES} bytes"),
        415: _error("Not a form body"),
        503: _error("The database is unavailable"),
    },
)
async def whatsapp_status(request: Request) -> Response:
    """Apply Twilio's report to the message's delivery status, forward only (sent, delivered,
    read); a message not delivered (``failed``, ``undelivered``) also becomes ``failed`` with
    Twilio's error."""
    try:
        params = signed_form(
            request.headers.get("content-type", ""),
            await request.body(),
            request.url.path,
            request.url.query,
            request.headers.get("X-Twilio-Signature", ""),
        )
    except WebhookRefused as refused:
        raise HTTPException(refused.status, detail=refused.detail) from refused
    sid = params.get("MessageSid") or params.get("SmsSid", "")
    status = params.get("MessageStatus") or params.get("SmsStatus", "")
    missing = [
        name for name, value in (("MessageSid", sid), ("MessageStatus", status)) if not value
    ]
    missing += [] if params.get("From") else ["From"]
    if missing:
        raise HTTPException(400, detail=f"missing form field(s): {', '.join(missing)}")
    await run_in_threadpool(
        record_delivery, params["From"], sid, status, params.get("ErrorCode", "")
    )
    return Response(status_code=204)
