"""FastAPI dependencies: the wired gateway, and Twilio-signed form bodies."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import ClientDisconnect

from switchboard.common.http_errors import incomplete_body
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


async def _body(request: Request, timeout_s: float) -> bytes:
    """The body, read no further than the form's limit (413 beyond it), each read waiting at
    most ``timeout_s`` for the client's next bytes (408 beyond it: a body that stops short of
    its ``Content-Length`` held its connection for as long as the client kept it open)."""
    chunks: list[bytes] = []
    size = 0
    stream = request.stream()
    try:
        while True:
            async with asyncio.timeout(timeout_s):
                chunk = await anext(stream, None)
            if chunk is None:
                return b"".join(chunks)
            size += len(chunk)
            refuse_if_too_large(size)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise WebhookRefused(400, "the client went away before sending the whole body") from exc
    except TimeoutError:
        detail = incomplete_body(size, timeout_s)
        raise HTTPException(408, detail=detail, headers={"Connection": "close"}) from None


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
        timeout_s = gateway.gateway_settings.body_read_timeout_s
        body = await _body(request, timeout_s) if signature else b""
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
