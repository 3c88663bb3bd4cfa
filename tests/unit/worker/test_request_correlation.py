"""One inbound WhatsApp message followed by its request id: the API's access line, the job
the webhook enqueued, the worker's lines for that job and for the reply it sent to Twilio."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from switchboard.api.app import create_app
from switchboard.common.db import system_session
from switchboard.common.models import Job
from switchboard.common.settings import Settings
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.observability.conftest import JsonLines, json_lines
from tests.unit.worker.test_whatsapp_jobs import PATH, inbound, signed

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
