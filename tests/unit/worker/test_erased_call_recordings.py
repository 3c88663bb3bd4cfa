"""A recording of a call an erasure erased, coming after it (Twilio's callback late or
retried, a job that waited in the queue): deleted at Twilio, never downloaded, transcribed,
attached or announced to the business's webhooks; one being transcribed when the erasure
comes sends no more of its pieces; and a new call from the same number is a new contact,
recorded as any other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import dramatiq
from sqlalchemy import select

from switchboard.common.bootstrap import Adapters, adapters
from switchboard.common.db import tenant_session
from switchboard.common.events import RecordingReady
from switchboard.common.integrations.openai_text import OpenAIText
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.models import CallLog, ErasedCall, Lead, Recording, WebhookDelivery
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.recordings import process_recording
from switchboard.domain.erasures import run_erasure
from switchboard.domain.erasures.erased_calls import remember_erased_calls
from tests.fakes.openai_http import API_KEY, FakeOpenAIServer
from tests.fakes.twilio_calls import silent_wav
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.unit.worker.erasure_world import (
    count_rows,
    erased_person,
    late_recording,
    person_world,
    traces,
)
from tests.unit.worker.jobs import finished, jobs_of, run
from tests.unit.worker.world import add, sid


def test_a_recording_job_after_the_erasure_downloads_and_transcribes_nothing(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    person = erased_person(fake_twilio, jobs_env)
    bid, call_sid = person.business_id, person.world.call_sid
    late = fake_twilio.add_recording(b"RIFF the person's voice", call_sid=call_sid)
    fake_openai.transcript = "I am Dana Smith"

    for _ in range(2):  # a redelivery (the job run twice) deletes again, harmlessly
        job = run(
            "process_recording_job",
            business_id=bid,
            recording_sid=late,
            call_sid=call_sid,
            recording_url=fake_twilio.recording_url(late),
            duration_s=3,
        )
        assert job.status == "succeeded", job.last_error

    assert fake_twilio.downloads == [] and fake_openai.transcriptions == []
    assert fake_twilio.recordings[late].deleted
    assert count_rows(bid, Recording) == 0 and count_rows(bid, CallLog) == 0
    with tenant_session(bid) as session:
        assert session.execute(select(Lead.id).where(Lead.phone == person.phone)).first() is None
    assert traces(bid, person.phone, call_sid, "Dana") == []


def test_a_late_recording_callback_is_not_announced_and_its_job_deletes_it_at_twilio(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    person = erased_person(fake_twilio, jobs_env)
    bid, call_sid = person.business_id, person.world.call_sid
    late = fake_twilio.add_recording(b"RIFF the person's voice", call_sid=call_sid)
    deliveries_before = count_rows(bid, WebhookDelivery)

    for _ in range(2):  # Twilio retries its callback: each is a new event
        enqueue_follow_ups(
            RecordingReady(
                business_id=bid,
                call_sid=call_sid,
                recording_sid=late,
                recording_url=fake_twilio.recording_url(late),
                duration_s=3,
            )
        )

    [job] = jobs_of(bid, "process_recording_job")
    assert finished(bid, job.id).status == "succeeded"
    assert fake_twilio.downloads == [] and fake_openai.transcriptions == []
    assert fake_twilio.recordings[late].deleted
    assert count_rows(bid, WebhookDelivery) == deliveries_before  # none naming the call again
    assert count_rows(bid, Recording) == 0
    assert traces(bid, person.phone, call_sid, "Dana") == []


def test_a_job_that_stored_the_audio_before_the_erasure_stops_before_transcribing(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    """A worker died after storing the audio; the erasure came (and missed the row, written
    after it looked); the redelivery sees the call erased at its next step."""
    person = person_world(fake_twilio, make_recording_storage(jobs_env))
    bid, call_sid = person.business_id, person.world.call_sid
    storage = adapters().storage
    late = late_recording(person, fake_twilio, storage)
    with tenant_session(bid) as session:
        remember_erased_calls(session, bid, person.world.erasure_id, [call_sid])

    job = run("process_recording_job", business_id=bid, recording_sid=late, call_sid=call_sid)

    assert job.status == "succeeded", job.last_error
    assert fake_openai.transcriptions == [] and not storage.exists(f"{bid}/{late}.wav")
    assert fake_twilio.recordings[late].deleted
    with tenant_session(bid) as session:
        left = session.execute(select(Recording.id).where(Recording.recording_sid == late))
        assert left.first() is None


def test_an_erasure_during_a_long_transcription_stops_it_before_the_next_piece_is_sent(
    jobs_env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The provider holds its answer to the first of five pieces; the erasure runs meanwhile
    (the job has no transaction open while it waits): the job sends no other piece, keeps
    nothing and attaches nothing."""
    person = person_world(fake_twilio, make_recording_storage(jobs_env))
    bid, call_sid = person.business_id, person.world.call_sid
    limit = 40_000  # OpenAI's upload limit, lowered on both sides: 12 s of WAV is 5 pieces
    fake_openai.max_upload_bytes = limit
    fake_openai.transcripts = ["I am Dana Smith", "two", "three", "four", "five"]
    job_adapters = Adapters(jobs_env)
    job_adapters.ai_text = OpenAIText(
        API_KEY, base_url=f"{fake_openai.url}/v1", timeout=5, max_upload_bytes=limit
    )
    late = fake_twilio.add_recording(silent_wav(seconds=12), call_sid=call_sid)
    fake_openai.hold_next(1)

    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(
            process_recording, bid, job_adapters, recording_sid=late, call_sid=call_sid
        )
        fake_openai.wait_for(lambda: fake_openai.held, timeout=30)  # piece 1 is at the provider
        assert run_erasure(bid, person.world.erasure_id, job_adapters) is True
        fake_openai.release()
        assert job.result(timeout=30) is False

    assert len(fake_openai.transcriptions) == 1  # pieces 2 to 5 never left
    assert fake_twilio.recordings[late].deleted
    assert not job_adapters.storage.exists(f"{bid}/{late}.wav")
    assert count_rows(bid, Recording) == 0 and count_rows(bid, CallLog) == 0
    assert traces(bid, person.phone, call_sid, "Dana") == []


def test_the_erasure_keeps_only_keyed_hashes_of_the_calls_and_a_new_call_is_recorded(
    worker: dramatiq.Worker,
    jobs_env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    person = erased_person(fake_twilio, jobs_env)
    bid = person.business_id
    with tenant_session(bid) as session:
        kept = session.execute(select(ErasedCall)).scalars().all()
    assert [row.erasure_id for row in kept] == [person.world.erasure_id]
    assert person.world.call_sid not in repr([(r.call_sid_hash,) for r in kept])
    new_call = sid("CA")
    add(bid, CallLog(business_id=bid, call_sid=new_call, from_number=person.phone))
    recording_sid = fake_twilio.add_recording(b"RIFF-audio", call_sid=new_call)
    fake_openai.transcript = "Hello again."

    job = run(
        "process_recording_job",
        business_id=bid,
        recording_sid=recording_sid,
        call_sid=new_call,
        duration_s=2,
    )

    assert job.status == "succeeded", job.last_error
    assert len(fake_twilio.downloads) == 1 and len(fake_openai.transcriptions) == 1
    with tenant_session(bid) as session:
        status = session.execute(select(Recording.status)).scalar_one()
    assert status == "transcribed"
