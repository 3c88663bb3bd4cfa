"""Recordings: downloaded from (fake) Twilio, stored, transcribed by (fake) OpenAI, expired."""

from __future__ import annotations

from datetime import timedelta

import dramatiq
from sqlalchemy import select, update

from switchboard.common.bootstrap import adapters
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.models import CallLog, Lead, Recording
from switchboard.common.settings import Settings
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.unit.worker.jobs import run
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
