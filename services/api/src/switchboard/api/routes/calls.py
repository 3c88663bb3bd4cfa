"""Calls: list, one call with its transcript, end reason and recordings, a recording's audio."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import Field

from switchboard.api.deps import CurrentBusiness, SettingsDep
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, CallId, RecordingId
from switchboard.api.recording_audio import MEDIA_TYPE, recording_audio_response
from switchboard.api.schemas import (
    CallDetail,
    CallPage,
    CallPublic,
    ErrorResponse,
    RecordingPublic,
    Storable,
    UrlInteger,
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
    lead_id: Annotated[UrlInteger | None, Query(ge=1, le=MAX_ID)] = None,
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
    responses={
        **NOT_FOUND,
        200: {"content": {MEDIA_TYPE: {}}, "description": "WAV audio"},
        206: {"content": {MEDIA_TYPE: {}}, "description": "The byte range asked for"},
        416: {
            "model": ErrorResponse,
            "description": "The range starts past the end (``Content-Range: bytes */size``)",
        },
    },
)
def get_recording_audio(
    business_id: CurrentBusiness,
    call_id: CallId,
    recording_id: RecordingId,
    settings: SettingsDep,
    range_header: Annotated[str | None, Header(alias="range", max_length=100)] = None,
) -> Response:
    """A recording's audio as stored once processed (kept for the retention period), streamed
    from its file: whole, or the one byte range asked for (``Range: bytes=a-b``, ``a-``,
    ``-n``)."""
    disposition = f'attachment; filename="recording-{recording_id}.wav"'
    return recording_audio_response(
        make_recording_storage(settings),
        business_id,
        call_id,
        recording_id,
        range_header,
        {"Content-Disposition": disposition},
    )
