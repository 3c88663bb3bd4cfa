"""FastAPI dependencies: the wired gateway, and Twilio-signed form bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from switchboard.voice_gateway.bootstrap import Gateway


def get_gateway(request: Request) -> Gateway:
    """The gateway wired into this app."""
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def signed_twilio_form(request: Request, gateway: GatewayDep) -> dict[str, str]:
    """The POSTed form, if ``X-Twilio-Signature`` proves Twilio sent it; else 403."""
    form = await request.form()
    if not gateway.signatures.webhook_is_signed(
        request.url.path,
        request.url.query,
        form,
        request.headers.get("X-Twilio-Signature"),
    ):
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return {key: str(value) for key, value in form.items()}


TwilioForm = Annotated[dict[str, str], Depends(signed_twilio_form)]
