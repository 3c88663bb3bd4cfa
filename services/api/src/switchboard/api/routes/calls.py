"""Calls: list, one call with its transcript, end reason and recordings, a recording's audio."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from switchboard.api.deps import CurrentBusiness, SettingsDep
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, CallId, RecordingId
from switchboard.api.schemas import (
    CallDetail,
    CallPage,
    CallPublic,
    RecordingPublic,
    Storable,
)
from switchboard.common.ids import MAX_ID
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.domain.calls import queries as calls_query

router = APIRouter(prefix="/api/v1/calls", tags=["calls"], responses=UNAUTHORIZED)


@router.get("", summary="List calls", response_model=CallPage)
def list_calls(
    business_id: CurrentBusiness,
    page: Paging,
    direction: Literal["inbound", "outbound"] | None = Query(None),
    status: Annotated[str, Field(max_length=32), Storable] | None = Query(
        None, examples=["completed"]
    ),
    lead_id: int | None = Query(None, ge=1, le=MAX_ID),
    number: Annotated[str, Field(max_length=32), Storable] | None = Query(
        None, description="Part of either number"
    ),
) -> CallPage:
    """This business's calls, newest first (without transcripts)."""
    filters = calls_query.CallFilter(direction, status, lead_id, number)
    rows = calls_query.list_calls(business_id, filters, limit=page.limit, after=page.after)
    return to_page(CallPage, rows)


@router.get("/{call_id}", summary="Get a call", response_model=CallDetail, responses=NOT_FOUND)
def get_call(business_id: CurrentBusiness, call_id: CallId) -> CallDetail:
    """One call: transcript, end reason, summary and recordings."""
    detail = calls_query.get_call(business_id, call_id)
    return CallDetail(
        **CallPublic.model_validate(detail.call).model_dump(),
        transcript=detail.call.transcript,
        recordings=[RecordingPublic.model_validate(r) for r in detail.recordings],
    )


@router.get(
    "/{call_id}/recordings/{recording_id}/audio",
    summary="Download a recording's audio",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"audio/wav": {}}, "description": "WAV audio"}},
)
def get_recording_audio(
    business_id: CurrentBusiness, call_id: CallId, recording_id: RecordingId, settings: SettingsDep
) -> Response:
    """A recording's audio as stored once processed (kept for the retention period)."""
    storage = make_recording_storage(settings)
    audio = calls_query.recording_audio(business_id, call_id, recording_id, storage)
    return Response(
        audio,
        media_type="audio/wav",
        headers={"Content-Disposition": f'attachment; filename="recording-{recording_id}.wav"'},
    )
