"""Twilio Voice webhooks: signed form in, TwiML (or nothing) out.

A form field Twilio never sends that way is a 400 naming it (``twilio.form_fields``); an id
in the query that is not a positive BIGINT a 422 naming it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response

from switchboard.common.http_errors import error_response
from switchboard.common.ids import MAX_ID
from switchboard.voice_gateway.bootstrap import Gateway
from switchboard.voice_gateway.entrypoints.dependencies import GatewayDep, TwilioForm
from switchboard.voice_gateway.twilio.form_fields import MalformedField

router = APIRouter(prefix="/twilio/voice", tags=["twilio"])

#: An id one of our own callback URLs carries.
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]


async def _malformed_field(_: Request, exc: Exception) -> Response:
    return error_response(400, str(exc))


def install_webhook_errors(app: FastAPI) -> None:
    """A malformed form field answers 400 with the error body."""
    app.add_exception_handler(MalformedField, _malformed_field)


def _twiml(body: str) -> Response:
    return Response(content=body, media_type="application/xml")


def _sent_elsewhere(route: str, gateway: Gateway, request: Request) -> Response:
    return _twiml(gateway.webhooks.while_draining(route, request.url.path, request.url.query))


@router.post("/incoming")
async def incoming_call(form: TwilioForm, gateway: GatewayDep, request: Request) -> Response:
    """A call to one of our numbers: connect it to the agent (or refuse politely)."""
    if gateway.admission.draining:
        return _sent_elsewhere("incoming", gateway, request)
    return _twiml(await gateway.webhooks.incoming_call(form))


@router.post("/outbound")
async def outbound_call(
    form: TwilioForm,
    gateway: GatewayDep,
    request: Request,
    business_id: QueryId,
    run_id: QueryId | None = None,
    item_id: QueryId | None = None,
) -> Response:
    """A call placed by an outbound run was answered: connect it to the agent."""
    if gateway.admission.draining:
        return _sent_elsewhere("outbound", gateway, request)
    return _twiml(await gateway.webhooks.outbound_call(form, business_id, run_id, item_id))


@router.post("/status", status_code=204)
async def call_status(
    form: TwilioForm,
    gateway: GatewayDep,
    business_id: QueryId | None = None,
    run_id: QueryId | None = None,
    item_id: QueryId | None = None,
) -> Response:
    """A call status callback: becomes a ``call.status`` event."""
    await gateway.webhooks.call_status(form, business_id, run_id, item_id)
    return Response(status_code=204)


@router.post("/recording", status_code=204)
async def recording_status(
    form: TwilioForm, gateway: GatewayDep, business_id: QueryId | None = None
) -> Response:
    """A recording status callback: a completed recording becomes ``recording.ready``."""
    await gateway.webhooks.recording_status(form, business_id)
    return Response(status_code=204)
