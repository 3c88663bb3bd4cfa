"""Recordings: downloaded from (fake) Twilio, stored, transcribed by (fake) OpenAI, expired."""

from __future__ import annotations

from datetime import timedelta

import dramatiq
from sqlalchemy import select, update

from switchboard.common.bootstrap import adapters
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.events import RecordingReady
from switchboard.common.models import CallLog, Lead, Recording
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.logs import finalize_call_log
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_calls import silent_wav
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.unit.worker.jobs import finished, jobs_of, run
from tests.unit.worker.world import add, sid


def test_a_recording_is_stored_transcribed_and_attached_to_its_call_and_lead(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    business = make_business()
    call_sid, caller = sid("CA"), unique_phone()
    add(business.id, CallLog(business_id=business.id, call_sid=call_sid, from_number=caller))
    recording_sid = fake_twilio.add_recording(b"RIFF-audio", call_sid=call_sid)
    fake_openai.transcript = "Hi, I am Sam Lee and I want a quote."

    for _ in range(2):  # a redelivery changes nothing
        job = run(
            "process_recording_job",
            business_id=business.id,
            recording_sid=recording_sid,
            call_sid=call_sid,
            recording_url=fake_twilio.recording_url(recording_sid),
        )
        assert job.status == "succeeded", job.last_error

    assert len(fake_twilio.downloads) == 1 and len(fake_openai.transcriptions) == 1
    with tenant_session(business.id) as session:
        recording = session.execute(select(Recording)).scalar_one()
        log = session.execute(select(CallLog)).scalar_one()
        lead = session.execute(select(Lead)).scalar_one()
    assert recording.status == "transcribed" and recording.transcript == fake_openai.transcript
    assert adapters().storage.get(recording.storage_key) == b"RIFF-audio"
    assert log.transcript == [{"role": "recording", "text": fake_openai.transcript}]
    assert (log.lead_id, lead.phone) == (lead.id, caller)


def test_recordings_older_than_seven_days_are_removed_here_and_at_twilio(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    storage = adapters().storage
    old_sid = fake_twilio.add_recording(b"old")
    new_sid = fake_twilio.add_recording(b"new")
    for recording_sid, age in ((old_sid, 8), (new_sid, 1)):
        key = f"{business.id}/{recording_sid}.wav"
        storage.put(key, b"audio")
        add(
            business.id,
            Recording(
                business_id=business.id,
                recording_sid=recording_sid,
                call_sid=sid("CA"),
                storage_key=key,
            ),
        )
        with tenant_session(business.id) as session:
            session.execute(
                update(Recording)
                .where(Recording.recording_sid == recording_sid)
                .values(created_at=utcnow() - timedelta(days=age))
            )

    job = run("cleanup_old_recordings_job", business_id=business.id)

    assert job.status == "succeeded", job.last_error
    with tenant_session(business.id) as session:
        left = session.execute(select(Recording.recording_sid)).scalars().all()
    assert left == [new_sid]
    assert fake_twilio.recordings[old_sid].deleted and not fake_twilio.recordings[new_sid].deleted
    assert not storage.exists(f"{business.id}/{old_sid}.wav")
    assert storage.exists(f"{business.id}/{new_sid}.wav")


def test_a_recording_callback_twilio_retries_processes_the_recording_once(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    """Each delivery of Twilio's callback becomes its own event (its own ``event_id``)."""
    business = make_business()
    call_sid = sid("CA")
    add(
        business.id, CallLog(business_id=business.id, call_sid=call_sid, from_number=unique_phone())
    )
    recording_sid = fake_twilio.add_recording(silent_wav(), call_sid=call_sid)
    deliveries = [
        RecordingReady(
            business_id=business.id,
            call_sid=call_sid,
            recording_sid=recording_sid,
            recording_url=fake_twilio.recording_url(recording_sid),
            duration_s=1,
        )
        for _ in range(2)
    ]

    for event in deliveries:
        enqueue_follow_ups(event)

    [job] = jobs_of(business.id, "process_recording_job")
    assert finished(business.id, job.id).status == "succeeded"
    assert len(fake_twilio.downloads) == 1 and len(fake_openai.transcriptions) == 1


def test_a_recording_before_its_call_log_is_attached_and_the_call_s_events_fill_the_rest(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    """Twilio's recording callback can overtake the call's own events."""
    business = make_business()
    call_sid, caller = sid("CA"), unique_phone()
    recording_sid = fake_twilio.add_recording(silent_wav(), call_sid=call_sid)
    fake_openai.transcript = "I need a plumber tomorrow."

    job = run(
        "process_recording_job",
        business_id=business.id,
        recording_sid=recording_sid,
        call_sid=call_sid,
        duration_s=1,
    )
    finalize_call_log(business.id, call_sid=call_sid, from_number=caller, status="completed")

    assert job.status == "succeeded", job.last_error
    with tenant_session(business.id) as session:
        recording = session.execute(select(Recording)).scalar_one()
        log = session.execute(select(CallLog)).scalar_one()
    assert recording.call_log_id == log.id
    assert log.transcript == [{"role": "recording", "text": fake_openai.transcript}]
    assert (log.from_number, log.status) == (caller, "completed")


def test_a_zero_second_recording_is_stored_and_never_sent_for_transcription(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    """Twilio reports ``completed`` with ``RecordingDuration=0`` for a call hung up at once;
    speech-to-text refuses a file without audio as invalid, which would fail the job."""
    business = make_business()
    call_sid = sid("CA")
    add(
        business.id, CallLog(business_id=business.id, call_sid=call_sid, from_number=unique_phone())
    )
    recording_sid = fake_twilio.add_recording(silent_wav(0), call_sid=call_sid)

    job = run(
        "process_recording_job",
        business_id=business.id,
        recording_sid=recording_sid,
        call_sid=call_sid,
        duration_s=0,
    )

    assert job.status == "succeeded", job.last_error
    assert fake_openai.transcriptions == []
    with tenant_session(business.id) as session:
        recording = session.execute(select(Recording)).scalar_one()
        log = session.execute(select(CallLog)).scalar_one()
    assert (recording.status, recording.transcript) == ("transcribed", "")
    assert recording.call_log_id == log.id and not log.transcript
    assert adapters().storage.exists(recording.storage_key)


def test_a_recording_deleted_at_twilio_before_its_download_is_marked_gone_not_retried(
    worker: dramatiq.Worker, jobs_env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    call_sid = sid("CA")
    recording_sid = fake_twilio.add_recording(silent_wav(), call_sid=call_sid)
    fake_twilio.recordings[recording_sid].deleted = True

    job = run(
        "process_recording_job",
        business_id=business.id,
        recording_sid=recording_sid,
        call_sid=call_sid,
    )

    assert (job.status, job.attempts) == ("succeeded", 1), job.last_error
    with tenant_session(business.id) as session:
        recording = session.execute(select(Recording)).scalar_one()
    assert (recording.status, recording.storage_key) == ("gone", None)


def test_an_empty_transcript_writes_no_empty_turn_on_the_call(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    """Speech-to-text answers "" for a recording of silence or hold music."""
    business = make_business()
    call_sid = sid("CA")
    add(
        business.id, CallLog(business_id=business.id, call_sid=call_sid, from_number=unique_phone())
    )
    recording_sid = fake_twilio.add_recording(silent_wav(), call_sid=call_sid)
    fake_openai.transcript = ""

    job = run(
        "process_recording_job",
        business_id=business.id,
        recording_sid=recording_sid,
        call_sid=call_sid,
        duration_s=5,
    )

    assert job.status == "succeeded", job.last_error
    assert len(fake_openai.transcriptions) == 1
    with tenant_session(business.id) as session:
        recording = session.execute(select(Recording)).scalar_one()
        log = session.execute(select(CallLog)).scalar_one()
    assert (recording.status, recording.transcript, recording.call_log_id) == (
        "transcribed",
        "",
        log.id,
    )
    assert not log.transcript and jobs_of(business.id, "analyze_conversation_job") == []
