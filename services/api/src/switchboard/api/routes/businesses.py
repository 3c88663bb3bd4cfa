"""Business management (admin) and the caller's own business."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from switchboard.api.deps import AdminOnly, CurrentBusiness
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import CONFLICT, NOT_FOUND, BusinessId
from switchboard.api.schemas import (
    AgentSettingsPublic,
    BusinessAdminUpdate,
    BusinessCreate,
    BusinessCreated,
    BusinessDetail,
    BusinessPage,
    BusinessPublic,
    BusinessSelfUpdate,
    ErrorResponse,
    Storable,
)
from switchboard.domain.businesses import settings as business_settings
from switchboard.domain.businesses.accounts import BusinessExistsError, create_business

router = APIRouter(prefix="/api/v1/businesses", tags=["businesses"])
_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "Not the admin key"},
}


@router.post(
    "",
    summary="Create a business",
    status_code=status.HTTP_201_CREATED,
    response_model=BusinessCreated,
    dependencies=[AdminOnly],
    responses={**_ADMIN, **CONFLICT},
)
def create(body: BusinessCreate) -> BusinessCreated:
    """Create a business; its API key is in the response and never shown again."""
    try:
        business, key = create_business(body.name, body.phone_number, body.timezone)
    except BusinessExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return BusinessCreated(business=BusinessPublic.model_validate(business), api_key=key.key)


def _detail(found: business_settings.BusinessSettings) -> BusinessDetail:
    return BusinessDetail(
        **BusinessPublic.model_validate(found.business).model_dump(),
        whatsapp_concurrency=found.business.whatsapp_concurrency,
        job_concurrency=found.business.job_concurrency or {},
        agent=AgentSettingsPublic.model_validate(found.agent),
    )


def _split(body: BusinessSelfUpdate) -> tuple[dict[str, object], dict[str, object]]:
    agent = body.agent.changes() if body.agent is not None else {}
    return body.changes(exclude={"agent"}), agent


@router.get(
    "/me",
    summary="Get your business",
    response_model=BusinessDetail,
    responses={401: {"model": ErrorResponse}},
)
def me(business_id: CurrentBusiness) -> BusinessDetail:
    """The business the API key belongs to, with its agent settings."""
    return _detail(business_settings.own_settings(business_id))


@router.patch(
    "/me",
    summary="Update your business",
    response_model=BusinessDetail,
    responses={401: {"model": ErrorResponse}},
)
def update_me(business_id: CurrentBusiness, body: BusinessSelfUpdate) -> BusinessDetail:
    """Change the business's settings or its agent's; the prompt is rebuilt and re-warmed
    (``prebuild_prompt_job`` and ``warmup_business_job``)."""
    business_changes, agent_changes = _split(body)
    found = business_settings.update_own_settings(business_id, business_changes, agent_changes)
    return _detail(found)


@router.get(
    "",
    summary="List businesses",
    response_model=BusinessPage,
    dependencies=[AdminOnly],
    responses=_ADMIN,
)
def list_businesses(
    page: Paging,
    q: Annotated[str, Field(max_length=200), Storable] | None = Query(
        None, description="Name or number"
    ),
) -> BusinessPage:
    """Every business, newest first (admin)."""
    rows = business_settings.list_businesses(search=q, limit=page.limit, after=page.after)
    return to_page(BusinessPage, rows)


@router.get(
    "/{business_id}",
    summary="Get a business",
    response_model=BusinessDetail,
    dependencies=[AdminOnly],
    responses={**_ADMIN, **NOT_FOUND},
)
def get_business(business_id: BusinessId) -> BusinessDetail:
    """Any business with its agent settings (admin)."""
    return _detail(business_settings.business_settings(business_id))


@router.patch(
    "/{business_id}",
    summary="Update a business",
    response_model=BusinessDetail,
    dependencies=[AdminOnly],
    responses={**_ADMIN, **NOT_FOUND, **CONFLICT},
)
def update_business(business_id: BusinessId, body: BusinessAdminUpdate) -> BusinessDetail:
    """Change any business (admin), including its number and concurrency caps, and its
    limits on jobs executing at once per queue (``job_concurrency``, merged: a queue given
    null goes back to the deployment's limit)."""
    business_changes, agent_changes = _split(body)
    found = business_settings.update_business(business_id, business_changes, agent_changes)
    return _detail(found)
