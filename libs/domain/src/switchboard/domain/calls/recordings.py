"""Call recordings: fetched from Twilio, stored, transcribed, attached to the call; kept 7 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from switchboard.common.bootstrap import Adapters
from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations import config
from switchboard.common.integrations.ai_text import joined_transcript
from switchboard.common.integrations.twilio_rest import RecordingTooLarge, TwilioPermanentError
from switchboard.common.jobs import raise_if_cancelled
from switchboard.common.jobs.catalog import PROCESS_RECORDING
from switchboard.common.logging import get_logger
from switchboard.common.models import CallLog, Recording
from switchboard.domain.calls.logs import (
    caller_number,
    ensure_call_is_ours,
    queue_call_analysis,
    record_call_parties,
)
from switchboard.domain.erasures.erased_calls import erased_call_locked, is_erased_call
from switchboard.domain.leads.store import upsert_lead

log = get_logger(__name__)

RETENTION = timedelta(days=7)
#: A partial file (a download cut short by a killed worker) older than this has no writer
#: left: twice the recording job's time limit, so a download under way is never touched.
PARTIAL_FILE_AGE = timedelta(seconds=2 * PROCESS_RECORDING.timeout_s)
#: The status of a recording Twilio no longer had when we came to download it.
GONE = "gone"
#: The status of a recording larger than ``RECORDING_MAX_BYTES``: refused, none of it kept.
TOO_LARGE = "too_large"


def _erased(business_id: int, call_sid: str) -> bool:
    with tenant_session(business_id) as session:
        return is_erased_call(session, business_id, call_sid)


def _refuse(business_id: int, adapters: Adapters, recording_sid: str) -> bool:
    """A recording of an erased call: our audio (if stored before the erasure was seen),
    Twilio's copy (False: gone already) and the row go; nothing is downloaded or transcribed.
    Each delete is idempotent, so a redelivery does it again harmlessly. Returns False."""
    with tenant_session(business_id) as session:
        key = session.execute(
            select(Recording.storage_key).where(
                Recording.business_id == business_id, Recording.recording_sid == recording_sid
            )
        ).scalar_one_or_none()
    if key:
        adapters.storage.delete(key)
    adapters.twilio.delete_recording(recording_sid)
    with tenant_session(business_id) as session:
        session.execute(
            delete(Recording).where(
                Recording.business_id == business_id, Recording.recording_sid == recording_sid
            )
        )
    log.info("recordings.refused_erased_call", business_id=business_id, recording_sid=recording_sid)
    return False


def _ensure_recording_is_ours(business_id: int, recording_sid: str) -> None:
    with system_session() as session:
        foreign = session.execute(
            select(Recording.id).where(
                Recording.recording_sid == recording_sid, Recording.business_id != business_id
            )
        ).first()
    if foreign is not None:
        raise NotFoundError(f"recording {recording_sid} not found for business {business_id}")


@dataclass(frozen=True)
class _Progress:
    """What earlier deliveries of the job already did, as the recording's row says."""

    status: str
    storage_key: str | None
    transcript: str | None
    #: The texts of the pieces transcribed before, while the transcript is not written yet.
    transcript_pieces: list[str]


def _register(business_id: int, recording_sid: str, call_sid: str, **fields: object) -> _Progress:
    """Upsert the recording row; its progress so far."""
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
        row = session.execute(
            select(
                Recording.status,
                Recording.storage_key,
                Recording.transcript,
                Recording.transcript_pieces,
            ).where(Recording.business_id == business_id, Recording.recording_sid == recording_sid)
        ).one()
    return _Progress(row.status, row.storage_key, row.transcript, row.transcript_pieces or [])


def _save(business_id: int, recording_sid: str, **values: object) -> None:
    """One step's result on the recording's row, committed before the next step starts."""
    with tenant_session(business_id) as session:
        session.execute(
            update(Recording)
            .where(Recording.business_id == business_id, Recording.recording_sid == recording_sid)
            .values(**values)
        )


def _attach(business_id: int, recording_sid: str, call_sid: str, transcript: str) -> bool:
    """The transcript on the call (unless it has one) and its lead; the recording done.
    False, attaching nothing, when the call was erased meanwhile.

    Twilio's recording callback may come before any event of its call: the call log is then
    upserted by sid here (as every call event does), and the call's events fill its blanks
    when they come. An empty transcript (silence, a 0-second recording) is not written.

    The erasure is looked for under the call's lock (``erasures/erased_calls.py``), held to
    commit: an erasure remembering the call waits for this attach and then removes it, or
    has committed and is found here.
    """
    with tenant_session(business_id) as session:
        if erased_call_locked(session, business_id, call_sid):
            return False
        recording = session.execute(
            select(Recording)
            .where(Recording.business_id == business_id, Recording.recording_sid == recording_sid)
            .with_for_update()
        ).scalar_one()
        recording.status = "transcribed"
        call_log_id = record_call_parties(  # upserted and locked by sid
            session,
            business_id,
            call_sid=call_sid,
            direction=None,
            from_number=None,
            to_number=None,
        )
        call_log = session.execute(select(CallLog).where(CallLog.id == call_log_id)).scalar_one()
        recording.call_log_id = call_log.id
        if not transcript:
            return True
        if not call_log.transcript:
            call_log.transcript = [{"role": "recording", "text": transcript}]
        phone = caller_number(call_log)
        if phone:
            lead, _ = upsert_lead(session, business_id, phone, source="call")
            call_log.lead_id = call_log.lead_id or lead.id
            queue_call_analysis(business_id, call_log.id)
        return True


def _transcribe(
    business_id: int,
    adapters: Adapters,
    recording_sid: str,
    call_sid: str,
    key: str,
    done: list[str],
) -> list[str] | None:
    """The texts of all the audio's pieces: ``done``, the ones an earlier try transcribed,
    then the rest, each saved on the row as soon as the provider answered it, so a retry
    (after the time limit, a killed worker, a provider's error) never pays for it again.

    None, the rest never sent, when the call was erased meanwhile: the erasure is looked for
    after each piece, before the adapter reads and sends the next (it sends one only when
    asked for it), so an erasure that comes while a long call is transcribed stops it there.
    """
    texts = list(done)
    with adapters.storage.reader(key) as audio:  # read by the adapter as it needs
        for text in adapters.ai_text.transcribe_pieces(
            audio, f"{recording_sid}.wav", skip=len(texts)
        ):
            texts.append(text)
            _save(business_id, recording_sid, transcript_pieces=texts)
            raise_if_cancelled()  # a checkpoint: a piece's text is stored
            if _erased(business_id, call_sid):
                return None
    return texts


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

    Each step commits its result on the recording's row before the next begins (the audio's
    ``storage_key``, then each transcribed piece's text in ``transcript_pieces``, then the
    ``transcript``, then ``transcribed`` with the call attached), and
    a redelivery skips the steps done: a worker that dies mid-way costs the step it was in,
    never a second download or transcription of a finished one (nor of a long call's
    piece transcribed already: its retry resumes at the next piece). The call's transcript is
    analysed once, under the call's analysis key. Returns False when the recording had been
    processed already, is gone from Twilio (a 404: status ``gone``), or is larger than
    ``RECORDING_MAX_BYTES`` (status ``too_large``, nothing of it stored).

    A recording of a call an erasure erased (``domain/erasures``) is refused, however late
    its callback or its job: deleted at Twilio, never downloaded, transcribed or attached.
    The erasure is looked for first, before transcribing, after each piece transcribed
    (before the next is sent) and in the transaction that attaches, so a job already under
    way when the erasure starts stops there: no more of the voice goes to the provider.
    """
    ensure_call_is_ours(business_id, call_sid)
    _ensure_recording_is_ours(business_id, recording_sid)
    if _erased(business_id, call_sid):
        return _refuse(business_id, adapters, recording_sid)
    progress = _register(
        business_id, recording_sid, call_sid, source_url=recording_url, duration_s=duration_s
    )
    if progress.status in ("transcribed", GONE, TOO_LARGE):
        return False
    key, transcript = progress.storage_key, progress.transcript
    if key is None:
        key = f"{business_id}/{recording_sid}.wav"
        try:
            # Streamed into the storage a chunk at a time, bounded; stored under the key only
            # once complete, so a worker killed mid-download leaves nothing served there, and
            # the redelivery downloads it again from the start.
            with adapters.storage.writing(key) as into:
                adapters.twilio.download_recording(
                    recording_sid,
                    into,
                    max_bytes=config.recording_max_bytes(adapters.settings),
                )
        except RecordingTooLarge:
            _save(business_id, recording_sid, status=TOO_LARGE)
            log.warning(
                "recordings.too_large", business_id=business_id, recording_sid=recording_sid
            )
            return False
        except TwilioPermanentError as exc:
            if exc.status != 404:  # 401 (credentials rotated): a retry can work once fixed
                raise
            # Deleted at Twilio (by hand, or its own retention) before we fetched it: no
            # retry can bring it back; the row says so instead of staying "pending".
            _save(business_id, recording_sid, status=GONE)
            log.warning(
                "recordings.gone_at_twilio", business_id=business_id, recording_sid=recording_sid
            )
            return False
        _save(business_id, recording_sid, storage_key=key, status="stored")
    raise_if_cancelled()  # a checkpoint: the audio is stored
    if transcript is None:
        if _erased(business_id, call_sid):
            return _refuse(business_id, adapters, recording_sid)
        texts = progress.transcript_pieces
        # No speech to send: providers refuse an empty or 0-second file as invalid audio.
        if duration_s != 0 and adapters.storage.size(key) > 0:
            transcribed = _transcribe(business_id, adapters, recording_sid, call_sid, key, texts)
            if transcribed is None:
                return _refuse(business_id, adapters, recording_sid)
            texts = transcribed
        transcript = joined_transcript(texts)
        _save(business_id, recording_sid, transcript=transcript, transcript_pieces=None)
    raise_if_cancelled()  # a checkpoint: the transcript is stored
    if not _attach(business_id, recording_sid, call_sid, transcript):
        return _refuse(business_id, adapters, recording_sid)
    log.info("recordings.processed", business_id=business_id, recording_sid=recording_sid)
    return True


def cleanup_old_recordings(
    business_id: int, adapters: Adapters, now: datetime | None = None
) -> int:
    """Remove this business's recordings older than 7 days: stored audio, Twilio's copy, row;
    and its partial files older than ``PARTIAL_FILE_AGE`` (downloads whose worker was killed
    and whose job never succeeded, so no key's delete takes them)."""
    now = now or utcnow()
    cutoff = now - RETENTION
    with tenant_session(business_id) as session:
        old = session.execute(
            select(Recording.id, Recording.recording_sid, Recording.storage_key).where(
                Recording.business_id == business_id, Recording.created_at < cutoff
            )
        ).all()
    for row in old:
        raise_if_cancelled()  # a checkpoint between recordings
        if row.storage_key:
            adapters.storage.delete(row.storage_key)
        adapters.twilio.delete_recording(row.recording_sid)
        with tenant_session(business_id) as session:  # one row at a time: a retry resumes
            session.execute(
                delete(Recording).where(
                    Recording.business_id == business_id, Recording.id == row.id
                )
            )
    partials = adapters.storage.remove_partials(str(business_id), now - PARTIAL_FILE_AGE)
    log.info("recordings.cleaned_up", business_id=business_id, removed=len(old), partials=partials)
    return len(old)
