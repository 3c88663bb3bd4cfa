"""The console's calls: the list (by number and direction), one call with its transcript and
recordings, and each recording's audio for the page's ``<audio>`` player.

The audio route is the dashboard's own (session cookie, the session's business only): an
``<audio>`` element cannot send the API's bearer key. It answers byte ranges, so the player
can seek without fetching the whole file again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from switchboard.api.dashboard.console import layout, logged_in, next_cursor, not_found
from switchboard.api.dashboard.rendering import page
from switchboard.api.deps import SettingsDep
from switchboard.api.pagination import decode_id_cursor
from switchboard.api.recording_audio import recording_audio_response
from switchboard.api.schemas import Storable, UrlInteger
from switchboard.common.errors import NotFoundError
from switchboard.common.ids import MAX_ID
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.domain.calls import queries as calls_query

router = APIRouter(prefix="/dashboard/calls", include_in_schema=False)
CallId = Annotated[UrlInteger, Path(ge=1, le=MAX_ID)]
RecordingId = Annotated[UrlInteger, Path(ge=1, le=MAX_ID)]
ACTIVE = "/dashboard/calls"
PAGE_SIZE = 25


@router.get("", response_class=HTMLResponse)
def calls_page(
    request: Request,
    settings: SettingsDep,
    q: Annotated[str, Field(max_length=32), Storable] | None = None,
    # The form's "Both directions" sends direction= (as the jobs page's "any" state).
    direction: Annotated[Literal["inbound", "outbound", ""] | None, Query()] = None,
    cursor: Annotated[str, Field(max_length=100), Storable] | None = None,
) -> HTMLResponse:
    """Calls newest first, narrowed by a number (caller or called) and direction."""
    session, business_id = logged_in(request, settings)
    direction = direction or None
    filters = calls_query.CallFilter(direction=direction, number=q or None)
    found = calls_query.list_calls(
        business_id, filters, limit=PAGE_SIZE, after=decode_id_cursor(cursor)
    )
    context = layout(session, ACTIVE, calls=found.items, q=q, direction=direction)
    return page(request, "calls.html", next_cursor=next_cursor(found.next_after), **context)


@router.get("/{call_id}", response_class=HTMLResponse)
def call_page(request: Request, settings: SettingsDep, call_id: CallId) -> HTMLResponse:
    """One call: its facts, transcript, summary, and recordings with a player each."""
    session, business_id = logged_in(request, settings)
    try:
        detail = calls_query.get_call(business_id, call_id)
    except NotFoundError as exc:
        raise not_found(exc) from exc
    context = layout(session, ACTIVE, call=detail.call, recordings=detail.recordings)
    return page(request, "call.html", **context)


@router.get("/{call_id}/recordings/{recording_id}/audio")
def recording_audio(
    request: Request,
    settings: SettingsDep,
    call_id: CallId,
    recording_id: RecordingId,
    range_header: Annotated[str | None, Header(alias="range", max_length=100)] = None,
) -> Response:
    """The recording's stored audio (WAV), whole or the one byte range asked for, streamed
    from the file (:mod:`switchboard.api.recording_audio`)."""
    _, business_id = logged_in(request, settings)
    storage = make_recording_storage(settings)
    try:
        # Not cached, not sniffed: as every console answer (``dashboard.headers``).
        return recording_audio_response(storage, business_id, call_id, recording_id, range_header)
    except NotFoundError as exc:
        raise not_found(exc) from exc
