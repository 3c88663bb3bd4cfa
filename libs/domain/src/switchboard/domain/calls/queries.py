"""Reading a business's calls: the log, its transcript, end reason and recordings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.storage import RecordingStorage
from switchboard.common.models import CallLog, Recording
from switchboard.domain.leads.store import like_pattern


@dataclass(frozen=True)
class CallFilter:
    """What a call list is narrowed to; ``number`` matches the caller or the called number."""

    direction: str | None = None
    status: str | None = None
    lead_id: int | None = None
    number: str | None = None


@dataclass(frozen=True)
class CallDetail:
    """A call with its recordings."""

    call: CallLog
    recordings: list[Recording]


def list_calls(
    business_id: int, filters: CallFilter, *, limit: int = 50, after: int | None = None
) -> Page[CallLog]:
    """This business's calls, newest first."""
    query = select(CallLog).where(CallLog.business_id == business_id)
    if filters.direction:
        query = query.where(CallLog.direction == filters.direction)
    if filters.status:
        query = query.where(CallLog.status == filters.status)
    if filters.lead_id is not None:
        query = query.where(CallLog.lead_id == filters.lead_id)
    if filters.number:
        pattern = like_pattern(filters.number)
        query = query.where(
            or_(
                CallLog.from_number.like(pattern, escape="\\"),
                CallLog.to_number.like(pattern, escape="\\"),
            )
        )
    with tenant_session(business_id) as session:
        return fetch_page(session, query, CallLog.id, limit=limit, after=after)


def get_call(business_id: int, call_id: int) -> CallDetail:
    """One call of this business with its recordings (oldest first)."""
    with tenant_session(business_id) as session:
        call = owned_row(session, CallLog, business_id, call_id, what="call")
        recordings = session.execute(
            select(Recording)
            .where(
                Recording.business_id == business_id,
                or_(Recording.call_log_id == call.id, Recording.call_sid == call.call_sid),
            )
            .order_by(Recording.id)
        ).scalars()
        return CallDetail(call, list(recordings))


def get_recording(business_id: int, call_id: int, recording_id: int) -> Recording:
    """One recording of one call of this business."""
    detail = get_call(business_id, call_id)
    for recording in detail.recordings:
        if recording.id == recording_id:
            return recording
    raise NotFoundError(f"recording {recording_id} not found")


def stored_recording_key(
    business_id: int, call_id: int, recording_id: int, storage: RecordingStorage
) -> str:
    """The storage key of one recording of one call of this business, if its audio is there."""
    recording = get_recording(business_id, call_id, recording_id)
    if recording.storage_key and storage.exists(recording.storage_key):
        return recording.storage_key
    raise _no_audio(recording_id, recording.status)


def _no_audio(recording_id: int, status: str) -> NotFoundError:
    return NotFoundError(
        f"recording {recording_id} has no stored audio (status {status!r}: "
        "not processed yet, gone from Twilio, or removed after the retention period)"
    )
