"""Call recordings: fetched from Twilio, stored, transcribed, attached to the call; kept 7 days."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from switchboard.common.bootstrap import Adapters
from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.errors import NotFoundError
from switchboard.common.jobs import FOREVER, enqueue_unique
from switchboard.common.jobs.catalog import ANALYZE_CONVERSATION
from switchboard.common.logging import get_logger
from switchboard.common.models import Recording
from switchboard.domain.calls.logs import call_log_for_sid, caller_number, ensure_call_is_ours
from switchboard.domain.leads.store import upsert_lead

log = get_logger(__name__)

RETENTION = timedelta(days=7)


def _ensure_recording_is_ours(business_id: int, recording_sid: str) -> None:
    with system_session() as session:
        foreign = session.execute(
            select(Recording.id).where(
                Recording.recording_sid == recording_sid, Recording.business_id != business_id
            )
        ).first()
    if foreign is not None:
        raise NotFoundError(f"recording {recording_sid} not found for business {business_id}")


def _register(business_id: int, recording_sid: str, call_sid: str, **fields: object) -> bool:
    """Upsert the recording row; False when it was already processed."""
    with tenant_session(business_id) as session:
        now = utcnow()
        insert_ignoring_conflicts(
            session,
            Recording.__table__,  # type: ignore[arg-type]
            {
                "business_id": business_id,
                "recording_sid": recording_sid,
                "call_sid": call_sid,
                "status": "pending",
                "created_at": now,
                "updated_at": now,
                **{k: v for k, v in fields.items() if v is not None},
            },
        )
        status = session.execute(
            select(Recording.status).where(
                Recording.business_id == business_id, Recording.recording_sid == recording_sid
            )
        ).scalar_one()
    return status != "transcribed"


def process_recording(
    business_id: int,
    adapters: Adapters,
    *,
    recording_sid: str,
    call_sid: str,
    recording_url: str | None = None,
    duration_s: float | None = None,
) -> bool:
    """Download, store and transcribe a recording, attach it to the call and its lead.

    Returns False when the recording had been processed already (a redelivery).
    """
    ensure_call_is_ours(business_id, call_sid)
    _ensure_recording_is_ours(business_id, recording_sid)
    if not _register(
        business_id, recording_sid, call_sid, source_url=recording_url, duration_s=duration_s
    ):
        return False
    audio = adapters.twilio.download_recording(recording_sid)
    key = f"{business_id}/{recording_sid}.wav"
    adapters.storage.put(key, audio)
    transcript = adapters.ai_text.transcribe(audio, f"{recording_sid}.wav")
    with tenant_session(business_id) as session:
        recording = session.execute(
            select(Recording)
            .where(Recording.business_id == business_id, Recording.recording_sid == recording_sid)
            .with_for_update()
        ).scalar_one()
        recording.storage_key, recording.transcript, recording.status = (
            key,
            transcript,
            "transcribed",
        )
        call_log = call_log_for_sid(session, business_id, call_sid)
        if call_log is not None:
            recording.call_log_id = call_log.id
            if not call_log.transcript:
                call_log.transcript = [{"role": "recording", "text": transcript}]
            phone = caller_number(call_log)
            if phone:
                lead, _ = upsert_lead(session, business_id, phone, source="call")
                call_log.lead_id = call_log.lead_id or lead.id
                enqueue_unique(
                    ANALYZE_CONVERSATION,
                    key=f"analyze-recording:{business_id}:{recording.id}",
                    period=FOREVER,
                    business_id=business_id,
                    call_log_id=call_log.id,
                )
    log.info("recordings.processed", business_id=business_id, sid=recording_sid, size=len(audio))
    return True


def cleanup_old_recordings(
    business_id: int, adapters: Adapters, now: datetime | None = None
) -> int:
    """Remove this business's recordings older than 7 days: stored audio, Twilio's copy, row."""
    cutoff = (now or utcnow()) - RETENTION
    with tenant_session(business_id) as session:
        old = session.execute(
            select(Recording.id, Recording.recording_sid, Recording.storage_key).where(
                Recording.business_id == business_id, Recording.created_at < cutoff
            )
        ).all()
    for row in old:
        if row.storage_key:
            adapters.storage.delete(row.storage_key)
        adapters.twilio.delete_recording(row.recording_sid)
        with tenant_session(business_id) as session:  # one row at a time: a retry resumes
            session.execute(
                delete(Recording).where(
                    Recording.business_id == business_id, Recording.id == row.id
                )
            )
    log.info("recordings.cleaned_up", business_id=business_id, removed=len(old))
    return len(old)
