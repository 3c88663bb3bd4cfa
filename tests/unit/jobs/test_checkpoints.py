"""Long jobs stop at their next checkpoint once they were asked to stop, leaving each step
either done and recorded or not begun."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

import pytest
from sqlalchemy import select

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.ai_text import ChatTurn, FakeAIText
from switchboard.common.integrations.storage import InMemoryStorage
from switchboard.common.integrations.twilio_rest import AudioFormat, FakeTwilioRest
from switchboard.common.jobs import raise_if_cancelled
from switchboard.common.jobs.errors import JobCancelled
from switchboard.common.models import (
    CallLog,
    Recording,
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)
from switchboard.common.settings import Settings
from switchboard.domain.businesses.warmup import warmup_business
from switchboard.domain.calls.recordings import process_recording
from switchboard.domain.whatsapp.sessions import summarize_session
from tests.support.factories import make_business, unique_phone
from tests.support.job_control import AskedToStop, running_as_job
from tests.unit.worker.world import add, sid


@dataclass
class CancelledWhileDownloading(FakeTwilioRest):
    """Twilio whose recording download takes long enough for the job to be cancelled."""

    control: AskedToStop | None = None

    def download_recording(
        self,
        recording_sid: str,
        into: BinaryIO,
        *,
        max_bytes: int,
        audio_format: AudioFormat = "wav",
    ) -> int:
        size = super().download_recording(
            recording_sid, into, max_bytes=max_bytes, audio_format=audio_format
        )
        assert self.control is not None
        self.control.cancel()
        return size


@dataclass
class CancelledWhileSummarizing(FakeAIText):
    """An AI whose summary takes long enough for the job to be cancelled."""

    control: AskedToStop | None = None

    def summarize(self, messages: list[ChatTurn]) -> str:  # type: ignore[override]
        assert self.control is not None
        self.control.cancel()
        return super().summarize(messages)


def test_outside_a_job_a_checkpoint_does_nothing() -> None:
    raise_if_cancelled()


def test_a_warmup_asked_to_stop_stops_before_building_prompts(embedded: Settings) -> None:
    business = make_business()
    control = AskedToStop()
    control.cancel()
    with running_as_job(business.id, control), pytest.raises(JobCancelled):
        warmup_business(business.id)
    assert control.checks == 1


def test_a_recording_cancelled_during_its_download_keeps_the_audio_and_is_not_transcribed(
    embedded: Settings,
) -> None:
    business = make_business()
    call_sid = sid("CA")
    add(
        business.id, CallLog(business_id=business.id, call_sid=call_sid, from_number=unique_phone())
    )
    control = AskedToStop()
    twilio = CancelledWhileDownloading(control=control)
    recording_sid = sid("RE")
    twilio.recordings[recording_sid] = b"RIFF-audio"
    ai = FakeAIText()
    adapters = Adapters(embedded)
    adapters.twilio, adapters.ai_text, adapters.storage = twilio, ai, InMemoryStorage()  # type: ignore[misc]
    with running_as_job(business.id, control), pytest.raises(JobCancelled):
        process_recording(business.id, adapters, recording_sid=recording_sid, call_sid=call_sid)
    assert [method for method, _ in ai.calls] == []
    with tenant_session(business.id) as session:
        recording = session.execute(select(Recording)).scalar_one()
    assert recording.status != "transcribed" and recording.transcript is None
    assert recording.storage_key is not None


def test_a_summary_cancelled_during_the_ai_call_closes_nothing(embedded: Settings) -> None:
    business = make_business()
    now = utcnow()
    conversation = add(
        business.id,
        WhatsAppConversation(
            business_id=business.id,
            contact_number=unique_phone(),
            business_number=business.phone_number,
        ),
    )
    chat = add(
        business.id,
        WhatsAppSession(
            business_id=business.id,
            conversation_id=conversation.id,
            started_at=now - timedelta(hours=1),
            last_activity_at=now - timedelta(hours=1),
        ),
    )
    add(
        business.id,
        WhatsAppMessage(
            business_id=business.id, conversation_id=conversation.id, direction="in", body="Hi"
        ),
    )
    control = AskedToStop()
    ai = CancelledWhileSummarizing(control=control)
    with running_as_job(business.id, control), pytest.raises(JobCancelled):
        summarize_session(business.id, chat.id, ai)
    with tenant_session(business.id) as session:
        stored = session.get(WhatsAppSession, chat.id)
        assert stored is not None and stored.closed_at is None and stored.summary is None
