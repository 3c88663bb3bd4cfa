"""A business's WhatsApp messages go out from its own number, even after an admin moved it: the
old number may be another business's by then, and a message from it would be that business's
(its sandbox inbox, its sender, the contact's answer routed to it)."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.settings import Settings
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.unit.api.rows import auth
from tests.unit.worker.test_whatsapp_jobs import PATH, inbound, signed


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _move(client: TestClient, settings: Settings, business_id: int, number: str) -> None:
    admin = {"Authorization": f"Bearer {settings.admin_api_key}"}
    moved = client.patch(
        f"/api/v1/businesses/{business_id}", json={"phone_number": number}, headers=admin
    )
    assert moved.status_code == 200, moved.text


def _sent(fake_twilio: FakeTwilioServer, count: int) -> list[dict[str, str]]:
    fake_twilio.wait_for(lambda: len(fake_twilio.messages) >= count, timeout=20)
    return list(fake_twilio.messages)


def _a_moved_business_and_its_old_number_s_new_owner(
    client: TestClient, settings: Settings, fake_twilio: FakeTwilioServer
) -> tuple[TestBusiness, str, TestBusiness, str]:
    """A business with a conversation (answered once), moved to a new number, and another
    business that took its old one; returns (moved, its new number, other, the contact)."""
    moved = make_business("Moved")
    old = moved.phone_number
    first = inbound(old, "Hi there")
    assert client.post(PATH, data=first, headers=signed(settings, first)).status_code == 200
    [answer] = _sent(fake_twilio, 1)
    assert answer["From"] == f"whatsapp:{old}"
    new = unique_phone()
    _move(client, settings, moved.id, new)
    other = make_business("Took the old number")
    _move(client, settings, other.id, old)
    return moved, new, other, first["From"]


def test_a_message_sent_after_a_move_goes_out_from_the_business_s_new_number(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    moved, new, _, _ = _a_moved_business_and_its_old_number_s_new_owner(
        client, jobs_env, fake_twilio
    )
    [conversation] = client.get("/api/v1/conversations", headers=auth(moved.api_key)).json()[
        "items"
    ]
    assert conversation["business_number"] == new

    queued = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"body": "See you at ten"},
        headers=auth(moved.api_key),
    )

    assert queued.status_code == 202, queued.text
    sent = _sent(fake_twilio, 2)[1]
    assert (sent["From"], sent["Body"]) == (f"whatsapp:{new}", "See you at ten")


def test_a_reply_after_a_move_goes_out_from_the_business_s_new_number(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    moved, new, _, contact = _a_moved_business_and_its_old_number_s_new_owner(
        client, jobs_env, fake_twilio
    )
    again = {**inbound(new, "Is ten still fine?"), "From": contact}

    assert client.post(PATH, data=again, headers=signed(jobs_env, again)).status_code == 200

    reply = _sent(fake_twilio, 2)[1]
    assert (reply["To"], reply["From"]) == (contact, f"whatsapp:{new}")
    assert (
        len(client.get("/api/v1/conversations", headers=auth(moved.api_key)).json()["items"]) == 1
    )
