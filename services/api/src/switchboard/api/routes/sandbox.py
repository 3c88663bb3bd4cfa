"""The sandbox inbox: WhatsApp replies sandbox telephony delivered instead of Twilio.

``GET /api/v1/sandbox/messages`` (JSON, API key) and the dashboard page ``/dashboard/sandbox``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from switchboard.api.dashboard.rendering import page
from switchboard.api.dashboard.session import require_login
from switchboard.api.deps import CurrentBusiness, SettingsDep
from switchboard.api.params import UNAUTHORIZED
from switchboard.api.schemas.common import Timestamp, UrlInteger
from switchboard.common.integrations.sandbox import inbox
from switchboard.common.integrations.sandbox.mode import telephony_mode
from switchboard.domain.businesses import settings as business_settings

router = APIRouter(tags=["sandbox"])


class SandboxMessagePublic(BaseModel):
    """A message the sandbox delivered in place of Twilio."""

    id: int
    sid: str = Field(examples=["SM0123456789abcdef0123456789abcdef"])
    channel: Literal["whatsapp"]
    to: str = Field(examples=["+15557654321"])
    from_: str = Field(alias="from", examples=["+15550000000"])
    body: str
    created_at: Timestamp

    model_config = {"populate_by_name": True}


class SandboxInbox(BaseModel):
    """The newest messages of the sandbox inbox, newest first."""

    telephony: Literal["twilio", "sandbox"]
    items: list[SandboxMessagePublic]


def _inbox(business_id: int, limit: int, settings: SettingsDep) -> SandboxInbox:
    return SandboxInbox(
        telephony=telephony_mode(settings),
        items=[
            SandboxMessagePublic.model_validate(message, from_attributes=True)
            for message in inbox.recent(business_id, limit)
        ],
    )


@router.get(
    "/api/v1/sandbox/messages",
    response_model=SandboxInbox,
    response_model_by_alias=True,
    responses=UNAUTHORIZED,
    summary="List the sandbox inbox",
)
def list_sandbox_messages(
    business_id: CurrentBusiness,
    settings: SettingsDep,
    limit: Annotated[UrlInteger, Query(ge=1, le=inbox.MAX_LISTED)] = 50,
) -> SandboxInbox:
    """WhatsApp messages this business sent while telephony was the sandbox, newest first."""
    return _inbox(business_id, limit, settings)


@router.get("/dashboard/sandbox", response_class=HTMLResponse, include_in_schema=False)
def sandbox_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The sandbox inbox in the dashboard."""
    session = require_login(request, settings)
    assert session.business_id is not None
    business = business_settings.own_settings(session.business_id).business
    return page(
        request,
        "sandbox.html",
        business=business,
        csrf_token=session.csrf_token,
        active="/dashboard/sandbox",
        inbox=_inbox(session.business_id, 100, settings),
    )
