"""FastAPI dependencies: the wired gateway, and Twilio-signed form bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import ClientDisconnect

from switchboard.common.integrations import twilio_form
from switchboard.common.integrations.twilio_form import (
    WebhookRefused,
    read_signed_form,
    refuse_if_too_large,
)
from switchboard.common.logging import get_logger
from switchboard.voice_gateway.bootstrap import Gateway

log = get_logger(__name__)


def get_gateway(request: Request) -> Gateway:
    """The gateway wired into this app."""
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def _body(request: Request) -> bytes:
    """The body, read no further than the form's limit (413 beyond it)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            refuse_if_too_large(size)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise WebhookRefused(400, "the client went away before sending the whole body") from exc
    return b"".join(chunks)


async def signed_twilio_form(request: Request, gateway: GatewayDep) -> twilio_form.TwilioForm:
    """The POSTed form, once ``X-Twilio-Signature`` proves Twilio sent it for this URL.

    The signature comes first (``read_signed_form``): a request Twilio did not sign is 403
    whatever else is wrong with it, and one without a signature is refused before its body
    is read. Then a body that is not a form as Twilio sends it is 413, 415 or 400."""
    signature = request.headers.get("X-Twilio-Signature", "")
    path, query = request.url.path, request.url.query

    def is_signed(form: twilio_form.TwilioForm) -> bool:
        return gateway.signatures.webhook_is_signed(path, query, form, signature)

    try:
        body = await _body(request) if signature else b""
        return read_signed_form(request.headers.get("content-type", ""), body, signature, is_signed)
    except WebhookRefused as refused:
        if refused.status == 403:
            # The operator's clue: a signature for another URL is a PUBLIC_BASE_URL that is
            # not the address Twilio (or ``simulate-call``) called.
            log.warning(
                "twilio.signature_refused",
                reason="mismatch" if signature else "missing",
                checked_for=gateway.signatures.public_url(path, ""),
            )
        raise HTTPException(refused.status, detail=refused.detail) from refused


TwilioForm = Annotated[twilio_form.TwilioForm, Depends(signed_twilio_form)]
