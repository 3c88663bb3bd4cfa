"""``POST /webhooks/twilio/whatsapp/status``: Twilio's delivery reports on the messages sent.

Every WhatsApp send names this URL as its ``StatusCallback``, with our message's id
(``?message_id=``, signed by Twilio with the rest of the URL); the report is kept as the
message's ``delivery_status`` (sent, delivered, read), forward only, and one that it was not
delivered marks it ``failed`` for good with Twilio's ``ErrorCode`` (and what it means, or a
cleaned ``ErrorMessage``; ``domain.whatsapp.delivery``). Signed
like the inbound webhook; an unknown number or message is answered 204 and changes nothing,
since Twilio does not send a report again. A callback without the id (a message sent before
it was named) finds its message by ``MessageSid``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from starlette.concurrency import run_in_threadpool

from switchboard.api.routes.whatsapp_webhook import twilio_signed
from switchboard.api.schemas import ErrorResponse, UrlInteger
from switchboard.common.ids import MAX_ID
from switchboard.common.integrations.twilio_form import (
    MAX_FORM_BYTES,
    TwilioForm,
    WebhookRefused,
    refuse_nul,
)
from switchboard.common.integrations.twilio_rest import (
    WHATSAPP_STATUS_MESSAGE_ID,
    WHATSAPP_STATUS_PATH,
)
from switchboard.common.logging import get_logger
from switchboard.domain.whatsapp.delivery import record_delivery
from switchboard.domain.whatsapp.inbound import MAX_SID_CHARS

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
        400: _error("MessageSid, MessageStatus or From missing, or MessageSid malformed"),
        403: _error("Not signed by Twilio for this URL"),
        413: _error(f"A form body over {MAX_FORM_BYTES} bytes"),
        415: _error("Not a form body"),
        503: _error("The database is unavailable"),
    },
)
async def whatsapp_status(
    params: TwilioForm = Depends(twilio_signed),
    message_id: Annotated[
        UrlInteger | None,
        Query(
            alias=WHATSAPP_STATUS_MESSAGE_ID,
            ge=1,
            le=MAX_ID,
            description="Our message's id, as the send named it in the callback URL",
        ),
    ] = None,
) -> Response:
    """Apply Twilio's report to the message's delivery status, forward only (sent, delivered,
    read); a message not delivered (``failed``, ``undelivered``) also becomes ``failed`` with
    Twilio's error. The message is the one ``message_id`` names, of the business whose number
    sent it, even before its send has recorded Twilio's sid; without it, the one with the
    ``MessageSid``. The signature is checked first (``twilio_signed``): an unsigned request
    is 403 even with a ``message_id`` that is no id."""
    sid = params.get("MessageSid") or params.get("SmsSid", "")
    status = params.get("MessageStatus") or params.get("SmsStatus", "")
    missing = [
        name for name, value in (("MessageSid", sid), ("MessageStatus", status)) if not value
    ]
    missing += [] if params.get("From") else ["From"]
    if missing:
        raise HTTPException(400, detail=f"missing form field(s): {', '.join(missing)}")
    try:  # the number is looked up: PostgreSQL takes no NUL, and Twilio never sends one
        refuse_nul(params, ("MessageSid", "SmsSid", "From"))
    except WebhookRefused as refused:
        raise HTTPException(refused.status, detail=refused.detail) from refused
    if len(sid) > MAX_SID_CHARS:  # never from Twilio: its ids are 34
        raise HTTPException(400, detail="MessageSid is not a Twilio message sid")
    await run_in_threadpool(
        record_delivery,
        params["From"],
        sid,
        status,
        params.get("ErrorCode", ""),
        message_id,
        params.get("ErrorMessage", ""),
    )
    return Response(status_code=204)
