"""Outside effects when the worker is SIGKILLed in the middle of one (real ``switchboard worker``
processes, PostgreSQL and RabbitMQ; fake Twilio and OpenAI in this process).

A WhatsApp reply Twilio took just before the kill is found at Twilio by the redelivered job,
which waits for Twilio's lagging list instead of sending it again; a recording killed after its
transcription is neither downloaded nor transcribed again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import PROCESS_RECORDING
from switchboard.common.models import CallLog, Job, Recording, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from tests.fakes.openai_http import API_KEY, FakeOpenAIServer, fake_openai
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
__all__ = ["fake_openai"]

#: Twilio lists a created message this late; the worker's lookup window is longer by more
#: than a loaded machine may take between claiming the message and Twilio receiving it (the
#: window runs from the claim, the lag from Twilio's receipt).
LIST_LAG_S = 12.0
WINDOW_S = 30.0


@pytest.fixture
def lagging_twilio() -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer(list_lag_s=LIST_LAG_S)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_effect_worker(
    start_service: Callable[..., ServiceProcess],
    lagging_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
) -> Callable[[str], ServiceProcess]:
    """A worker on one queue, pointed at the fakes; a dead one's job is taken over quickly."""

    def start(queue: str) -> ServiceProcess:
        return start_service(
            "worker",
            "--processes",
            "1",
            "--threads",
            "2",
            "--queue",
            queue,
            twilio_api_base_url=lagging_twilio.url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            openai_api_key=API_KEY,
            openai_base_url=f"{fake_openai.url}/v1",
            recordings_dir=str(tmp_path / "recordings"),
            whatsapp_send_lookup_window_s=str(WINDOW_S),
            worker_heartbeat_interval_s="0.5",
            worker_stale_after_s="2",
        )

    return start


def _status(business_id: int, model: type, row_id: int) -> str:
    with tenant_session(business_id) as session:
        return str(session.execute(select(model.status).where(model.id == row_id)).scalar_one())


def test_a_reply_twilio_took_as_the_worker_died_is_found_not_sent_again(
    pg_rabbit: Settings,
    lagging_twilio: FakeTwilioServer,
    start_effect_worker: Callable[[str], ServiceProcess],
) -> None:
    """The reply job stores the reply and sends it itself; killed while Twilio holds the
    request it made, its redelivery asks the agent nothing and finds the reply at Twilio."""
    business = make_business()
    contact = f"whatsapp:{unique_phone()}"
    # Twilio takes it; the worker never hears back. (The worker may also run reply jobs other
    # tests left in the session's queue and outbox: only this contact's messages count.)
    lagging_twilio.hold_next("create_message", to=contact)
    first = start_effect_worker("whatsapp")
    inbound = store_inbound(
        business.id, InboundMessage(f"SM{uuid.uuid4().hex}", contact, business.phone_number, "Hi")
    )
    assert inbound is not None

    lagging_twilio.wait_for(lambda: lagging_twilio.held, timeout=60)
    first.kill()
    start_effect_worker("whatsapp")

    def reply_job_status() -> str:
        with tenant_session(business.id) as session:
            return str(
                session.execute(
                    select(Job.status).where(Job.actor_name == "process_whatsapp_webhook_job")
                ).scalar_one()
            )

    def reply_id() -> int:
        with tenant_session(business.id) as session:
            linked = session.execute(
                select(WhatsAppMessage.reply_id).where(WhatsAppMessage.id == inbound)
            ).scalar_one()
        assert linked is not None
        return int(linked)

    # The reply is marked sent inside the job; the ledger records the job's end just after.
    wait_for(
        lambda: (
            _status(business.id, WhatsAppMessage, reply_id()) == "sent"
            and reply_job_status() == "succeeded"
        ),
        timeout=90,
        what="the redelivered reply job to settle its send",
    )
    # The one the killed worker sent, never a second.
    [taken] = [m for m in lagging_twilio.messages if m["To"] == contact]
    with tenant_session(business.id) as session:
        replies_written = (
            session.execute(select(WhatsAppMessage).where(WhatsAppMessage.direction == "out"))
            .scalars()
            .all()
        )
        send_jobs = session.execute(
            select(func.count()).select_from(Job).where(Job.queue_name == "whatsapp_send")
        ).scalar_one()
    assert [(r.id, r.message_sid) for r in replies_written] == [(reply_id(), taken["sid"])]
    assert send_jobs == 0, "the reply job sends its reply: no send job on the way"


def _hold_call_log(call_log_id: int, locked: threading.Event, release: threading.Event) -> None:
    """Lock the call log row until ``release``: the recording's last step waits on it."""
    with system_session() as session:
        session.execute(select(CallLog.id).where(CallLog.id == call_log_id).with_for_update())
        locked.set()
        release.wait(120)


def _waiting_on_a_lock() -> bool:
    with system_session() as session:
        return bool(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        )


def test_a_recording_killed_after_its_transcription_is_not_downloaded_or_transcribed_again(
    pg_rabbit: Settings,
    lagging_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    start_effect_worker: Callable[[str], ServiceProcess],
) -> None:
    business = make_business()
    call_sid = f"CA{uuid.uuid4().hex}"
    with tenant_session(business.id) as session:
        call_log = CallLog(business_id=business.id, call_sid=call_sid, from_number=unique_phone())
        session.add(call_log)
        session.flush()
        call_log_id = call_log.id
    recording_sid = lagging_twilio.add_recording(b"RIFF-audio", call_sid=call_sid)
    fake_openai.transcript = "Hi, I am Sam Lee and I want a quote."
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_call_log, args=(call_log_id, locked, release))
    holder.start()
    try:
        assert locked.wait(10)
        first = start_effect_worker("recordings")
        enqueue(
            PROCESS_RECORDING,
            business_id=business.id,
            recording_sid=recording_sid,
            call_sid=call_sid,
        )
        fake_openai.wait_for(lambda: fake_openai.transcriptions, timeout=60)
        wait_for(_waiting_on_a_lock, timeout=30, what="the last step to wait for the call log")
        first.kill()
    finally:
        release.set()
        holder.join(10)
    start_effect_worker("recordings")

    with tenant_session(business.id) as session:
        recording_id = session.execute(select(Recording.id)).scalar_one()
    wait_for(
        lambda: _status(business.id, Recording, recording_id) == "transcribed",
        timeout=90,
        what="the redelivered recording job",
    )
    assert len(lagging_twilio.downloads) == 1 and len(fake_openai.transcriptions) == 1
    with tenant_session(business.id) as session:
        log = session.get(CallLog, call_log_id)
        analyses = session.execute(
            select(func.count())
            .select_from(Job)
            .where(Job.actor_name == "analyze_conversation_job")
        ).scalar_one()
    assert log is not None
    assert log.transcript == [{"role": "recording", "text": fake_openai.transcript}]
    assert analyses == 1
