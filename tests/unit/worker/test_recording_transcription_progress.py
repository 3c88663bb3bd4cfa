"""A long recording's transcription keeps its progress a piece at a time: a retry (after the
job's time limit, a killed worker, the provider's error) resumes at the next piece, never
paying again for the pieces transcribed; the transcript is all of them, in order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import tenant_session
from switchboard.common.integrations.ai_text import AITextRetryableError
from switchboard.common.integrations.openai_text import OpenAIText
from switchboard.common.models import CallLog, Recording
from switchboard.common.settings import Settings
from switchboard.domain.calls.recordings import process_recording
from tests.fakes.openai_http import API_KEY, FakeOpenAIServer
from tests.fakes.twilio_calls import silent_wav
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.unit.worker.world import add, sid

#: OpenAI's 25 MB upload limit, lowered on both sides: a 12 s mono WAV (192 kB) is 5 pieces.
LIMIT = 40_000
TEXTS = ["one", "two", "", "four", "five"]  # the third piece is silence


def _adapters(jobs_env: Settings, fake_openai: FakeOpenAIServer) -> Adapters:
    fake_openai.max_upload_bytes = LIMIT
    adapters = Adapters(jobs_env)
    adapters.ai_text = OpenAIText(  # the real adapter, with the fake's lowered limit
        API_KEY, base_url=f"{fake_openai.url}/v1", timeout=5, max_upload_bytes=LIMIT
    )
    return adapters


def _recording(business_id: int) -> Recording:
    with tenant_session(business_id) as session:
        return session.execute(select(Recording)).scalar_one()


def test_a_transcription_failed_after_two_pieces_resumes_at_the_third(
    jobs_env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    business = make_business()
    call_sid = sid("CA")
    add(
        business.id, CallLog(business_id=business.id, call_sid=call_sid, from_number=unique_phone())
    )
    recording_sid = fake_twilio.add_recording(silent_wav(seconds=12), call_sid=call_sid)
    adapters = _adapters(jobs_env, fake_openai)
    fake_openai.transcripts = list(TEXTS)
    fake_openai.fail_next("transcribe", after=2)  # the provider fails on the third piece

    with pytest.raises(AITextRetryableError):
        process_recording(business.id, adapters, recording_sid=recording_sid, call_sid=call_sid)

    row = _recording(business.id)
    assert (row.status, row.transcript, row.transcript_pieces) == ("stored", None, ["one", "two"])
    assert len(fake_openai.transcriptions) == 2

    assert process_recording(business.id, adapters, recording_sid=recording_sid, call_sid=call_sid)

    assert len(fake_openai.transcriptions) == 5  # pieces 1 and 2 were not sent again
    assert all(upload.size <= LIMIT for upload in fake_openai.transcriptions)
    row = _recording(business.id)
    assert (row.status, row.transcript, row.transcript_pieces) == (
        "transcribed",
        "one two four five",
        None,
    )
    with tenant_session(business.id) as session:
        log = session.execute(select(CallLog)).scalar_one()
    assert log.transcript == [{"role": "recording", "text": "one two four five"}]
    assert len(fake_twilio.downloads) == 1


def test_a_short_recording_is_one_piece_and_a_retry_after_it_sends_nothing_again(
    jobs_env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The piece's text saved, the job stopped before the transcript was written: the retry
    writes the transcript from the saved text."""
    business = make_business()
    call_sid = sid("CA")
    recording_sid = fake_twilio.add_recording(silent_wav(seconds=1), call_sid=call_sid)
    adapters = _adapters(jobs_env, fake_openai)
    add(
        business.id,
        Recording(
            business_id=business.id,
            recording_sid=recording_sid,
            call_sid=call_sid,
            status="stored",
            storage_key=f"{business.id}/{recording_sid}.wav",
            transcript_pieces=["all of it"],
        ),
    )
    adapters.storage.put(f"{business.id}/{recording_sid}.wav", silent_wav(seconds=1))

    assert process_recording(business.id, adapters, recording_sid=recording_sid, call_sid=call_sid)

    assert fake_openai.transcriptions == []
    assert _recording(business.id).transcript == "all of it"
