"""Internal endpoints for other Switchboard services (INTERNAL_API_TOKEN)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select

from switchboard.api.deps import InternalOnly
from switchboard.api.schemas import ErrorResponse, Text
from switchboard.common.db import tenant_session
from switchboard.common.models import AgentSettings, PrebuiltPrompt
from switchboard.domain.businesses.accounts import business_for_number

router = APIRouter(
    prefix="/internal/v1",
    tags=["internal"],
    dependencies=[InternalOnly],
    responses={
        401: {"model": ErrorResponse, "description": "No bearer token"},
        403: {"model": ErrorResponse, "description": "Not the internal token"},
    },
)


class AgentConfig(BaseModel):
    business_id: int
    business_name: str
    phone_number: str
    prompt: str
    greeting: str
    voice: str
    language: str
    recording_enabled: bool
    max_call_seconds: int
    silence_timeout_s: int
    #: The provider the business's agent settings name; null: the gateway's default.
    ai_provider: str | None = None


def _fallback_prompt(settings: AgentSettings, business_name: str) -> str:
    # Used until prebuild_prompt_job has stored the real one.
    return (
        f"You are {settings.agent_name}, the phone assistant of {business_name}. "
        f"{settings.instructions}".strip()
    )


@router.get(
    "/agent-config",
    summary="Get a number's agent config (internal)",
    response_model=AgentConfig,
    responses={
        304: {"description": "Unchanged: the ETag sent in If-None-Match is still current"},
        404: {"model": ErrorResponse},
    },
)
def agent_config(
    request: Request,
    to: Annotated[Text, Query(max_length=64, description="The called number, E.164")],
) -> Response:
    """What the gateway's agent needs for a call to ``to``.

    The gateway asks at every call start, sending the ETag of the config it holds in
    ``If-None-Match``: a config unchanged since is a bodiless 304, a changed one (settings,
    prompt, or the number moved to another business) arrives whole.
    """
    body = _agent_config(to).model_dump_json().encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _agent_config(to: str) -> AgentConfig:
    business = business_for_number(to)
    if business is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no business answers {to}")
    with tenant_session(business.id) as session:
        agent = session.execute(
            select(AgentSettings).where(AgentSettings.business_id == business.id)
        ).scalar_one()
        prompt = session.execute(
            select(PrebuiltPrompt.content).where(
                PrebuiltPrompt.business_id == business.id, PrebuiltPrompt.channel == "voice"
            )
        ).scalar_one_or_none()
        return AgentConfig(
            business_id=business.id,
            business_name=business.name,
            phone_number=business.phone_number,
            prompt=prompt or _fallback_prompt(agent, business.name),
            greeting=agent.greeting,
            voice=agent.voice,
            language=agent.language,
            recording_enabled=business.recording_enabled,
            max_call_seconds=business.max_call_seconds,
            silence_timeout_s=agent.silence_timeout_s,
            ai_provider=agent.ai_provider,
        )
