"""WhatsApp's 24-hour window: free-form messages refused or failed outside it, a reply job past
it ending before it asks the agent, templates sent at any time (through the API, the worker,
fake Twilio and fake OpenAI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.models import WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.window import UNANSWERED_ERROR, WINDOW_CLOSED_ERROR
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.waiting import wait_for
from tests.unit.worker.jobs import finished, jobs_of, run
from tests.unit.worker.world import World, make_world

TEMPLATE = "HX" + "0123456789abcdef" * 2


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _last_wrote(world: World, ago: timedelta) -> datetime:
    """Date the contact's (only) message ``ago``; returns when the window closes."""
    wrote = utcnow() - ago
    with tenant_session(world.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == world.inbound_id)
            .values(created_at=wrote)
        )
    return as_utc(wrote) + timedelta(hours=24)


def _send(client: TestClient, world: World, payload: dict[str, Any]) -> Any:
    return client.post(
        f"/api/v1/conversations/{world.conversation_id}/messages",
        json=payload,
        headers={"Authorization": f"Bearer {world.business.api_key}"},
    )


def _outbound(world: World) -> list[WhatsAppMessage]:
    with tenant_session(world.id) as session:
        return list(
            session.execute(
                select(WhatsAppMessage)
                .where(WhatsAppMessage.direction == "out")
                .order_by(WhatsAppMessage.id)
            ).scalars()
        )


def _message(world: World, message_id: int) -> WhatsAppMessage:
    with tenant_session(world.id) as session:
        return session.get_one(WhatsAppMessage, message_id)


def _send_jobs(world: World) -> int:
    return len(jobs_of(world.id, "send_whatsapp_message_job"))


def test_a_free_form_message_outside_the_window_is_a_409_naming_its_end(
    client: TestClient,
) -> None:
    world = make_world()
    closed_at = _last_wrote(world, timedelta(hours=25))

    response = _send(client, world, {"body": "Are you still interested?"})

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert closed_at.isoformat() in detail and "content_sid" in detail and "template" in detail
    assert len(_outbound(world)) == 1 and _send_jobs(world) == 0  # the world's own reply only


def test_a_free_form_message_inside_the_window_is_queued(client: TestClient) -> None:
    world = make_world()
    _last_wrote(world, timedelta(hours=23))

    assert _send(client, world, {"body": "See you at nine."}).status_code == 202


def test_a_template_outside_the_window_is_sent_with_its_sid_and_variables(
    client: TestClient, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(days=3))
    variables = {"1": "12/1", "2": "3pm"}

    response = _send(client, world, {"content_sid": TEMPLATE, "content_variables": variables})

    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["message"]["body"] == f"[template {TEMPLATE}]"
    assert queued["message"]["content_sid"] == TEMPLATE
    job = finished(world.id, queued["job_id"])
    assert job.status == "succeeded", job.last_error
    [sent] = fake_twilio.messages
    assert sent["ContentSid"] == TEMPLATE and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == variables
    message = _outbound(world)[-1]
    assert (message.status, message.message_sid) == ("sent", sent["sid"])
    assert json.loads(message.content_variables or "") == variables


def test_the_message_listing_shows_a_template_s_sid_and_variables(client: TestClient) -> None:
    world = make_world()
    variables = {"1": "Ana", "2": "9:00"}
    queued = _send(client, world, {"content_sid": TEMPLATE, "content_variables": variables})
    assert queued.status_code == 202, queued.text
    assert queued.json()["message"]["content_variables"] == variables

    listed = client.get(
        f"/api/v1/conversations/{world.conversation_id}/messages",
        headers={"Authorization": f"Bearer {world.business.api_key}"},
    )

    assert listed.status_code == 200
    shown = {item["id"]: item for item in listed.json()["items"]}
    template = shown[queued.json()["message"]["id"]]
    assert (template["content_sid"], template["content_variables"]) == (TEMPLATE, variables)
    assert (
        shown[world.inbound_id]["content_sid"],
        shown[world.inbound_id]["content_variables"],
    ) == (
        None,
        None,
    )


def test_the_openapi_schema_documents_a_message_s_template_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["MessagePublic"]

    fields = schema["properties"]
    assert {"content_sid", "content_variables"} <= set(schema["required"])
    assert "template" in fields["content_sid"]["description"]
    assert "variables" in fields["content_variables"]["description"]
    assert {"type": "object", "additionalProperties": {"type": "string"}} in fields[
        "content_variables"
    ]["anyOf"]


def test_the_openapi_schema_says_an_inbound_message_can_fail_unanswered(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["MessagePublic"]

    described = schema["properties"]["status"]["description"]
    inbound, outbound = described.split("An outbound")
    assert all(word in inbound for word in ("received", "replied", "failed", "24-hour window"))
    assert all(word in outbound for word in ("queued", "sending", "sent", "failed"))


def test_a_template_send_repeated_with_its_key_is_sent_once(
    client: TestClient, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(days=3))
    headers = {"Authorization": f"Bearer {world.business.api_key}", "Idempotency-Key": "t-1"}
    path = f"/api/v1/conversations/{world.conversation_id}/messages"
    payload = {"content_sid": TEMPLATE, "content_variables": {"1": "Ana"}}

    first = client.post(path, json=payload, headers=headers)
    again = client.post(path, json=payload, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert finished(world.id, first.json()["job_id"]).status == "succeeded"
    assert len(fake_twilio.messages) == 1 and _send_jobs(world) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"content_sid": "HX123"}, "content_sid"),
        ({"content_sid": "MG" + "0" * 32}, "content_sid"),
        ({"body": "Hi", "content_sid": TEMPLATE}, "content_sid"),
        ({}, "content_sid"),
        ({"body": "Hi", "content_variables": {"1": "x"}}, "content_variables"),
        ({"content_sid": TEMPLATE, "content_variables": {"name": "x"}}, "content_variables"),
        ({"content_sid": TEMPLATE, "content_variables": {"1": ""}}, "content_variables"),
        ({"content_sid": TEMPLATE, "content_variables": {"1": "x" * 1025}}, "content_variables"),
        ({"content_sid": TEMPLATE, "content_variables": {"1": 5}}, "content_variables"),
        (
            {"content_sid": TEMPLATE, "content_variables": {str(n): "x" for n in range(1, 52)}},
            "content_variables",
        ),
    ],
)
def test_a_bad_template_request_is_a_422_naming_the_field(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    world = make_world()

    response = _send(client, world, payload)

    assert response.status_code == 422
    assert [error["loc"][:2] for error in response.json()["detail"]] == [["body", field]]
    assert _send_jobs(world) == 0


def test_a_reply_job_run_after_the_window_asks_the_agent_nothing_and_fails_the_message(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(hours=25))  # the reply job waited too long

    job = run("process_whatsapp_webhook_job", business_id=world.id, message_id=world.inbound_id)

    assert (job.status, job.attempts) == ("succeeded", 1)  # not retried
    assert fake_openai.chat_requests == [] and fake_twilio.messages == []
    assert [message.id for message in _outbound(world)] == [world.outbound_id]  # no reply
    inbound = _message(world, world.inbound_id)
    assert (inbound.status, inbound.error, inbound.reply_id) == ("failed", UNANSWERED_ERROR, None)


def test_a_reply_job_inside_the_window_still_asks_the_agent_and_sends(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(hours=23))

    job = run("process_whatsapp_webhook_job", business_id=world.id, message_id=world.inbound_id)

    assert job.status == "succeeded", job.last_error
    assert len(fake_openai.chat_requests) == 1 and len(fake_twilio.messages) == 1
    assert _message(world, world.inbound_id).status == "replied"


def test_a_reply_stored_before_the_window_closed_fails_at_its_send_without_calling_twilio(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(hours=25))
    with tenant_session(world.id) as session:  # answered, then the worker died before its send
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == world.inbound_id)
            .values(status="replied", reply_id=world.outbound_id)
        )

    job = run("process_whatsapp_webhook_job", business_id=world.id, message_id=world.inbound_id)

    assert (job.status, job.attempts) == ("succeeded", 1)
    assert fake_openai.chat_requests == [] and fake_twilio.messages == []
    reply = _message(world, world.outbound_id)
    assert (reply.status, reply.error) == ("failed", WINDOW_CLOSED_ERROR)
    assert _message(world, world.inbound_id).status == "replied"


def test_a_queued_send_run_after_the_window_fails_without_calling_twilio(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(hours=25))

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "succeeded", job.last_error
    assert fake_twilio.messages == []
    wait_for(lambda: _outbound(world)[0].status == "failed")
    assert _outbound(world)[0].error == WINDOW_CLOSED_ERROR


def _bound_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_a_reply_job_carrying_a_bound_in_the_future_reads_no_window(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The bound a reply job carries (its message's arrival + 24 h) is trusted: the window is
    not read, before the agent is asked nor before the send. Dated 25 h back here, the
    message's row would say closed: the reply goes all the same."""
    world = make_world()
    _last_wrote(world, timedelta(hours=25))

    job = run(
        "process_whatsapp_webhook_job",
        business_id=world.id,
        message_id=world.inbound_id,
        window_open_until_ms=_bound_ms(utcnow() + timedelta(hours=1)),
    )

    assert job.status == "succeeded", job.last_error
    assert len(fake_openai.chat_requests) == 1 and len(fake_twilio.messages) == 1
    assert _message(world, world.inbound_id).status == "replied"


def test_a_reply_job_whose_bound_has_passed_reads_the_window(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    world = make_world()
    _last_wrote(world, timedelta(hours=25))

    job = run(
        "process_whatsapp_webhook_job",
        business_id=world.id,
        message_id=world.inbound_id,
        window_open_until_ms=_bound_ms(utcnow() - timedelta(hours=1)),
    )

    assert (job.status, job.attempts) == ("succeeded", 1)
    assert fake_openai.chat_requests == [] and fake_twilio.messages == []
    assert _message(world, world.inbound_id).status == "failed"


def test_the_webhook_s_reply_job_carries_its_message_s_arrival_plus_24_hours(
    jobs_env: Settings,
) -> None:
    from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound

    world = make_world()
    before = utcnow()
    message_id = store_inbound(
        world.id,
        InboundMessage(
            message_sid="SM" + "7" * 32,
            from_number="whatsapp:+15550101010",
            to_number=f"whatsapp:{world.business.phone_number}",
            body="hello",
        ),
    )
    assert message_id is not None

    [job] = [
        job
        for job in jobs_of(world.id, "process_whatsapp_webhook_job")
        if json.loads(job.message)["kwargs"]["message_id"] == message_id
    ]
    bound = json.loads(job.message)["kwargs"]["window_open_until_ms"]
    arrival = as_utc(_message(world, message_id).created_at)
    # Never past the window's real end (arrival + 24 h), and not far before it.
    assert (
        _bound_ms(before + timedelta(hours=24)) <= bound <= _bound_ms(arrival + timedelta(hours=24))
    )


def test_the_api_s_send_job_carries_the_window_s_end_a_template_s_none(client: TestClient) -> None:
    world = make_world()
    ends = _last_wrote(world, timedelta(hours=2))

    assert _send(client, world, {"body": "hello"}).status_code == 202
    assert _send(client, world, {"content_sid": TEMPLATE}).status_code == 202

    kwargs = [
        json.loads(job.message)["kwargs"] for job in jobs_of(world.id, "send_whatsapp_message_job")
    ]
    assert sorted(k.get("window_open_until_ms", 0) for k in kwargs) == [0, _bound_ms(ends)]
