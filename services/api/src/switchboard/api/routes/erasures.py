"""Erasures: erase everything held about one person (GDPR art. 17), as a job."""

from __future__ import annotations

from fastapi import APIRouter, status

from switchboard.api.deps import CurrentBusiness
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, ErasureId
from switchboard.api.schemas import ErasureAccepted, ErasureCreate, ErasurePage, ErasurePublic
from switchboard.domain import erasures

router = APIRouter(prefix="/api/v1/erasures", tags=["erasures"], responses=UNAUTHORIZED)


@router.post(
    "",
    summary="Erase a person",
    dependencies=[Idempotent],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ErasureAccepted,
)
def request_erasure(business_id: CurrentBusiness, body: ErasureCreate) -> ErasureAccepted:
    """Queue the erasure of everything this business holds about the person with this
    number: leads, calls with transcripts and recordings (Twilio's copies too), WhatsApp
    conversations, reminders, webhook deliveries; outbound items keep their status with the
    number blanked. While an erasure of the number is unfinished, a repeat answers it."""
    requested = erasures.request_erasure(business_id, body.phone)
    public = ErasurePublic.model_validate(requested.erasure)
    return ErasureAccepted(**public.model_dump(), repeated=requested.repeated)


@router.get("", summary="List erasures", response_model=ErasurePage)
def list_erasures(business_id: CurrentBusiness, page: Paging) -> ErasurePage:
    """This business's erasures, newest first."""
    return to_page(
        ErasurePage, erasures.list_erasures(business_id, limit=page.limit, after=page.after)
    )


@router.get(
    "/{erasure_id}", summary="Get an erasure", response_model=ErasurePublic, responses=NOT_FOUND
)
def get_erasure(business_id: CurrentBusiness, erasure_id: ErasureId) -> ErasurePublic:
    """An erasure's status and what it erased so far, per kind."""
    return ErasurePublic.model_validate(erasures.get_erasure(business_id, erasure_id))
