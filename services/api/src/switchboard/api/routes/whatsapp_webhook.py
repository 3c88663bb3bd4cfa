"""``POST /webhooks/twilio/whatsapp``: Twilio's inbound WhatsApp messages, stored and queued.

The webhook checks Twilio's signature, stores the message and enqueues its processing in one
transaction, and answers empty TwiML at once: the reply is sent later through the REST API.

It is the API's hottest path, so the app (``app.py``) hands it to :func:`serve_webhook` as
plain ASGI, before the framework's middleware, routing and request objects. The FastAPI route
below does the same through :func:`accept_inbound`; it documents the endpoint in the OpenAPI
schema and serves it in an app without that shortcut.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.types import Receive, Scope, Send

from switchboard.api.body_limit import BodyRefused
from switchboard.api.errors import (
    database_unavailable,
    log_unavailable,
    send_unavailable,
)
from switchboard.api.schemas import ErrorResponse
from switchboard.common.http_errors import send_error
from switchboard.common.integrations.twilio_form import (
    MAX_FORM_BYTES,
    TwilioForm,
    WebhookRefused,
    read_signed_form,
    refuse_nul,
)
from switchboard.common.integrations.twilio_signature import TwilioRequestValidator
from switchboard.common.logging import get_logger
from switchboard.common.settings import get_settings
from switchboard.domain.whatsapp.attachments import inbound_text
from switchboard.domain.whatsapp.inbound import MAX_SID_CHARS, InboundMessage, MalformedNumber
from switchboard.domain.whatsapp.inbound_store import InboundStore, NumberNotAnswered

log = get_logger(__name__)
router = APIRouter(tags=["whatsapp"])

PATH = "/webhooks/twilio/whatsapp"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
#: Twilio's form for one message is a few hundred bytes to a few kilobytes (``twilio_form``
#: refuses more as it reads); the app's body limit (``api.body_limit``) holds this path to it.
MAX_BODY_BYTES = MAX_FORM_BYTES


def signed_form(
    content_type: str, body: bytes, path: str, query: str, signature: str
) -> TwilioForm:
    """The form fields, once Twilio's ``X-Twilio-Signature`` checks out for this URL; the
    signature is checked first (``read_signed_form``): unsigned is 403 whatever else."""
    settings = get_settings()
    base = (settings.api_public_base_url or settings.api_base_url).rstrip("/")
    url = base + path + (f"?{query}" if query else "")
    validator = TwilioRequestValidator(settings.twilio_auth_token)
    try:
        return read_signed_form(
            content_type, body, signature, lambda form: validator.validate(url, form, signature)
        )
    except WebhookRefused as refused:
        if refused.status == 403:
            log.warning("whatsapp.bad_signature", path=path)
        raise


async def twilio_signed(request: Request) -> TwilioForm:
    """Dependency: the request's form, signed by Twilio for its URL (``signed_form``).

    FastAPI runs a route's dependencies before it validates the route's own query
    parameters, so a route taking this one answers an unsigned request 403 before any 422.
    """
    try:
        return signed_form(
            request.headers.get("content-type", ""),
            await request.body(),
            request.url.path,
            request.url.query,
            request.headers.get("X-Twilio-Signature", ""),
        )
    except WebhookRefused as refused:
        raise HTTPException(refused.status, detail=refused.detail) from refused


async def accept_inbound(store: InboundStore, params: dict[str, str]) -> None:
    """Store the inbound message (once per ``MessageSid``) and queue the agent's reply."""
    missing = [name for name in ("MessageSid", "From", "To") if not params.get(name)]
    if missing:
        raise WebhookRefused(400, f"missing form field(s): {', '.join(missing)}")
    refuse_nul(params, ("MessageSid", "From", "To"))
    if len(params["MessageSid"]) > MAX_SID_CHARS:  # never from Twilio: its ids are 34
        raise WebhookRefused(400, f"MessageSid longer than {MAX_SID_CHARS} characters")
    try:
        message = InboundMessage(
            message_sid=params["MessageSid"],
            from_number=params["From"],
            to_number=params["To"],
            # The text is the customer's: kept, with U+FFFD for a NUL, which PostgreSQL cannot
            # store (refusing it would lose the message; Twilio does not resend it).
            # A photo, voice note or location is told in words (``attachments``).
            body=inbound_text(params).replace("\x00", "\ufffd"),
        )
    except MalformedNumber as exc:  # never from Twilio: nothing is stored
        raise WebhookRefused(400, str(exc)) from exc
    business_id = await store.business_for(message.to_number)
    if business_id is None:
        raise WebhookRefused(404, "no business answers this number")
    try:
        stored = await store.store(business_id, message)
    except NumberNotAnswered as exc:  # moved away from every business since it was read
        raise WebhookRefused(404, str(exc)) from exc
    log.info(
        "whatsapp.inbound",
        business_id=business_id,
        message_sid=message.message_sid,
        new=bool(stored),
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


@router.post(
    PATH,
    summary="Receive an inbound WhatsApp message (Twilio)",
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {}}, "description": "Empty TwiML: stored"},
        400: _error(
            "A form field missing, or one Twilio never sends (a NUL in an id, a MessageSid "
            "over 64 characters, a From or To that is not a phone number in E.164 form)"
        ),
        403: _error("Not signed by Twilio for this URL"),
        404: _error("No business answers the number"),
        413: _error(f"A form body over {MAX_BODY_BYTES} bytes"),
        415: _error("Not a form body"),
        503: _error("The database is unavailable; Twilio sends the message again"),
    },
)
async def whatsapp_inbound(
    request: Request, params: TwilioForm = Depends(twilio_signed)
) -> Response:
    """Store the inbound message (once per ``MessageSid``) and queue the agent's reply."""
    try:
        await accept_inbound(request.app.state.whatsapp_inbound, params)
    except WebhookRefused as refused:
        raise HTTPException(refused.status, detail=refused.detail) from refused
    return Response(EMPTY_TWIML, media_type="application/xml")


_TWIML = EMPTY_TWIML.encode()
_XML_HEADERS = [(b"content-type", b"application/xml"), (b"content-length", b"%d" % len(_TWIML))]


def is_webhook(scope: Scope) -> bool:
    """Whether the request is the webhook's (``serve_webhook`` answers it)."""
    return bool(scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST")


async def serve_webhook(store: InboundStore, scope: Scope, receive: Receive, send: Send) -> None:
    """The webhook as plain ASGI: the route's checks and answers, errors as JSON ``detail``,
    the database out of reach answered 503 and an unexpected failure 500, like the app's
    own handlers."""
    try:
        content_type = signature = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"x-twilio-signature":
                signature = value.decode("latin-1")
        body = await _read_body(receive)
        query = scope["query_string"].decode("latin-1")
        await accept_inbound(store, signed_form(content_type, body, PATH, query, signature))
    except WebhookRefused as refused:
        await _answer_json(send, refused.status, refused.detail)
        return
    except BodyRefused:  # answered by the body limit around this app
        raise
    except Exception as exc:
        if database_unavailable(exc):  # Twilio retries a 503 later
            log_unavailable(PATH, exc)
            await send_unavailable(send)
            return
        log.error("api.unhandled_error", path=PATH, error=type(exc).__name__)
        await _answer_json(send, 500, "internal server error")
        return
    await send({"type": "http.response.start", "status": 200, "headers": _XML_HEADERS})
    await send({"type": "http.response.body", "body": _TWIML})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise WebhookRefused(400, "the client went away before sending the whole body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer_json(send: Send, status: int, detail: Any) -> None:
    await send_error(send, status, detail)  # the app's error body, code and all
