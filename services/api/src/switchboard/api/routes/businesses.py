"""Business management (admin) and the caller's own business."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from switchboard.api.deps import AdminOnly, CurrentBusiness
from switchboard.api.schemas import BusinessCreate, BusinessCreated, BusinessPublic, ErrorResponse
from switchboard.common.businesses import BusinessExistsError, create_business
from switchboard.common.db import tenant_session
from switchboard.common.models import Business

router = APIRouter(prefix="/api/v1/businesses", tags=["businesses"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BusinessCreated,
    dependencies=[AdminOnly],
    responses={409: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)
def create(body: BusinessCreate) -> BusinessCreated:
    """Create a business; its API key is in the response and never shown again."""
    try:
        business, key = create_business(body.name, body.phone_number, body.timezone)
    except BusinessExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return BusinessCreated(business=BusinessPublic.model_validate(business), api_key=key.key)


@router.get("/me", response_model=BusinessPublic, responses={401: {"model": ErrorResponse}})
def me(business_id: CurrentBusiness) -> BusinessPublic:
    """The business the API key belongs to."""
    with tenant_session(business_id) as session:
        business = session.execute(select(Business).where(Business.id == business_id)).scalar_one()
        return BusinessPublic.model_validate(business)
