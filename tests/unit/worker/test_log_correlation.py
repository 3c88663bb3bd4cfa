"""Work followed across processes by what it serves: one inbound WhatsApp message by its request
id (the API's access line, the job the webhook enqueued, the worker's lines for that job and
for the reply it sent to Twilio), one call by its sid (the call event's follow-up line, the
jobs it enqueued and the worker's lines for them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from switchboard.api.app import create_app
from switchboard.common.db import system_session
from switchboard.common.events import CallEnded, TranscriptTurn, utc_now
from switchboard.common.models import Job
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.observability.conftest import JsonLines, json_lines
from tests.unit.worker.test_whatsapp_jobs import PATH, inbound, signed
from tests.unit.worker.world import sid

__all__ = ["json_lines"]


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _jobs(business_id: int) -> list[Job]:
    with system_session() as session:
        query = select(Job).where(Job.business_id == business_id).order_by(Job.enqueued_at)
        return list(session.execute(query).scalars())


def test_a_webhook_s_request_id_follows_its_jobs_into_the_worker_s_lines(
    client: TestClient,
    jobs_env: Settings,
    worker: dramatiq.Worker,
    fake_twilio: FakeTwilioServer,
    json_lines: JsonLines,
) -> None:
    business = make_business()
    params = inbound(business.phone_number, "Hello, I want to book a visit")
    headers = {**signed(jobs_env, params), "X-Request-ID": "edge-req-42"}

    assert client.post(PATH, data=params, headers=headers).status_code == 200
    fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    wait_for(lambda: [job.status for job in _jobs(business.id)] == ["succeeded"])

    jobs = _jobs(business.id)
    assert [job.actor_name for job in jobs] == ["process_whatsapp_webhook_job"]
    lines = json_lines()
    (access,) = [line for line in lines if line["event"] == "http.request"]
    assert access["request_id"] == "edge-req-42"
    for job in jobs:
        job_lines = [line for line in lines if line.get("job_id") == job.id]
        assert {"job.started", "job.succeeded"} <= {line["event"] for line in job_lines}
        assert all(line.get("request_id") == "edge-req-42" for line in job_lines)
    # The reply's request to Twilio is among them: the line that says Twilio took it.
    (sent,) = [line for line in lines if line["event"] == "twilio.message_sent"]
    assert sent["request_id"] == "edge-req-42" and sent["job_id"] == jobs[0].id


def test_a_call_s_sid_follows_its_event_s_jobs_into_the_worker_s_lines(
    worker: dramatiq.Worker, json_lines: JsonLines
) -> None:
    business = make_business()
    call_sid = sid("CA")
    started = utc_now() - timedelta(minutes=1)
    ended = CallEnded(
        business_id=business.id,
        call_sid=call_sid,
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=unique_phone(),
        to_number=business.phone_number,
        started_at=started,
        ended_at=utc_now(),
        duration_s=60.0,
        end_reason="caller_hung_up",
        transcript=[TranscriptTurn(role="agent", text="Hello, how can I help?", at=started)],
    )

    enqueue_follow_ups(ended)  # as the API's call event consumer does
    wait_for(
        lambda: _jobs(business.id) and all(j.status == "succeeded" for j in _jobs(business.id))
    )

    lines = json_lines()
    (followed_up,) = [line for line in lines if line["event"] == "call_event.followed_up"]
    assert followed_up["call_sid"] == call_sid
    for job in _jobs(business.id):
        job_lines = [line for line in lines if line.get("job_id") == job.id]
        assert {"job.started", "job.succeeded"} <= {line["event"] for line in job_lines}
        assert all(line.get("call_sid") == call_sid for line in job_lines), job.actor_name
