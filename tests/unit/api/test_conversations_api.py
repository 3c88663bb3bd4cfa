from __future__ import annotations

from switchboard.common.db import tenant_session
from switchboard.common.models import Job, WhatsAppMessage
from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth


def test_opening_a_conversation_twice_returns_the_same_one(client) -> None:
    headers = auth(make_business().api_key)
    first = client.post(
        "/api/v1/conversations", json={"contact_number": "+15557770001"}, headers=headers
    )
    again = client.post(
        "/api/v1/conversations", json={"contact_number": "+15557770001"}, headers=headers
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    listed = client.get("/api/v1/conversations", params={"number": "7770001"}, headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [first.json()["id"]]


def test_a_conversation_with_the_business_s_own_number_is_a_422_naming_it(client) -> None:
    """The agent would message itself: opening one was a 201."""
    business = make_business()
    headers = auth(business.api_key)

    response = client.post(
        "/api/v1/conversations", json={"contact_number": business.phone_number}, headers=headers
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "contact_number"], "own_number")
    assert "this business's own number" in error["msg"]
    assert client.get("/api/v1/conversations", headers=headers).json()["items"] == []


def test_messages_are_listed_newest_first(client) -> None:
    business = make_business()
    conversation = rows.conversation(business.id)
    for body in ("one", "two", "three"):
        rows.message(business.id, conversation.id, body)
    page = client.get(
        f"/api/v1/conversations/{conversation.id}/messages",
        params={"limit": 2},
        headers=auth(business.api_key),
    ).json()
    assert [m["body"] for m in page["items"]] == ["three", "two"] and page["next_cursor"]


def test_sending_a_message_stores_it_and_enqueues_the_send_job_together(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    response = client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"body": "Your appointment is confirmed."},
        headers=auth(business.api_key),
    )
    assert response.status_code == 202
    body = response.json()
    assert body["message"]["direction"] == "out" and body["message"]["status"] == "queued"
    with tenant_session(business.id) as session:
        job = session.get(Job, body["job_id"])
        message = session.get(WhatsAppMessage, body["message"]["id"])
    assert job is not None and message is not None
    assert (job.actor_name, job.queue_name, job.status) == (
        "send_whatsapp_message_job",
        "whatsapp_send",
        "queued",
    )
    assert f'"message_id":{message.id}' in job.message.replace(" ", "")


def test_an_empty_message_is_a_422(client) -> None:
    business = make_business()
    conversation = rows.conversation(business.id)
    response = client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"body": ""},
        headers=auth(business.api_key),
    )
    assert response.status_code == 422


def test_a_message_longer_than_whatsapp_takes_is_a_422_and_one_at_the_limit_is_queued(
    client,
) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    at_limit = "Ça va? 你好 👋🏽 " * 122 + "x" * 14  # 1,586 + 14 characters: Twilio's 1,600

    def send(body: str) -> int:
        return client.post(
            f"/api/v1/conversations/{conversation.id}/messages",
            json={"body": body},
            headers=auth(business.api_key),
        ).status_code

    assert len(at_limit) == 1600
    # Twilio refuses 1,601 characters (21617): the business hears it now, not as a failed send.
    assert (send(at_limit + "!"), send(at_limit)) == (422, 202)
