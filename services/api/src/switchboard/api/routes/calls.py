"""Calls: list, and one call with its transcript, end reason and recordings."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from switchboard.api.deps import CurrentBusiness
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, CallId
from switchboard.api.schemas import CallDetail, CallPage, CallPublic, RecordingPublic
from switchboard.common import calls_query
from switchboard.common.keyset import MAX_ID

router = APIRouter(prefix="/api/v1/calls", tags=["calls"], responses=UNAUTHORIZED)


@router.get("", response_model=CallPage)
def list_calls(
    business_id: CurrentBusiness,
    page: Paging,
    direction: Literal["inbound", "outbound"] | None = Query(None),
    status: str | None = Query(None, max_length=32, examples=["completed"]),
    lead_id: int | None = Query(None, ge=1, le=MAX_ID),
    number: str | None = Query(None, max_length=32, description="Part of either number"),
) -> CallPage:
    """This business's calls, newest first (without transcripts)."""
    filters = calls_query.CallFilter(direction, status, lead_id, number)
    rows = calls_query.list_calls(business_id, filters, limit=page.limit, after=page.after)
    return to_page(CallPage, rows)


@router.get("/{call_id}", response_model=CallDetail, responses=NOT_FOUND)
def get_call(business_id: CurrentBusiness, call_id: CallId) -> CallDetail:
    """One call: transcript, end reason, summary and recordings."""
    detail = calls_query.get_call(business_id, call_id)
    return CallDetail(
        **CallPublic.model_validate(detail.call).model_dump(),
        transcript=detail.call.transcript,
        recordings=[RecordingPublic.model_validate(r) for r in detail.recordings],
    )
