"""WhatsApp as Twilio really sends it and takes it: media and locations with no text, the
fields a message may carry besides, bodies at Twilio's limits, and agent replies over them."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.models import WhatsAppMessage
from switchboard.common.settings import Settings
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.worker.test_whatsapp_jobs import PATH, inbound, signed

MEDIA_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _bodies(business_id: int, direction: str) -> list[str]:
    with tenant_session(business_id) as session:
        return list(
            session.scalars(
                select(WhatsAppMessage.body)
                .where(WhatsAppMessage.direction == direction)
                .order_by(WhatsAppMessage.id)
            )
        )


def _post(client: TestClient, settings: Settings, params: dict[str, str]) -> None:
    assert client.post(PATH, data=params, headers=signed(settings, params)).status_code == 200


def _media(*types: str) -> dict[str, str]:
    fields = {"NumMedia": str(len(types))}
    for i, content_type in enumerate(types):
        fields[f"MediaContentType{i}"] = content_type
        fields[f"MediaUrl{i}"] = f"{MEDIA_URL}{i}"
    return fields


def test_media_and_locations_are_stored_as_notes_without_their_urls(
    client: TestClient, jobs_env: Settings
) -> None:
    business = make_business()
    sent = [
        {**inbound(business.phone_number, ""), **_media("image/jpeg")},
        {**inbound(business.phone_number, "Is this one in stock?"), **_media("image/png")},
        {**inbound(business.phone_number, ""), **_media("audio/ogg; codecs=opus")},
        {**inbound(business.phone_number, ""), **_media("image/jpeg", "image/jpeg", "video/mp4")},
        {**inbound(business.phone_number, ""), **_media("text/vcard", "application/pdf")},
        {**inbound(business.phone_number, ""), **_media("image/webp")},
        {
            **inbound(business.phone_number, ""),
            "Latitude": "52.3702",
            "Longitude": "4.8952",
            "Label": "Café Oslo",
            "Address": "Keizersgracht 1, Amsterdam",
        },
        {**inbound(business.phone_number, ""), "Latitude": "-33.86", "Longitude": "151.2"},
    ]
    for params in sent:
        _post(client, jobs_env, params)

    bodies = _bodies(business.id, "in")
    assert bodies == [
        "[sent a photo]",
        "Is this one in stock?\n[sent a photo]",
        "[sent a voice note]",
        "[sent 2 photos and a video]",
        "[sent a contact card and a document]",
        "[sent a sticker]",
        "[shared a location: Café Oslo, Keizersgracht 1, Amsterdam (52.3702, 4.8952)]",
        "[shared a location: -33.86, 151.2]",
    ]
    assert not any(MEDIA_URL in body for body in bodies)


def test_a_photo_without_text_is_answered_as_a_photo(
    client: TestClient,
    jobs_env: Settings,
    worker: dramatiq.Worker,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    business = make_business()
    params = {**inbound(business.phone_number, ""), **_media("image/jpeg")}

    _post(client, jobs_env, params)

    [reply] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    [request] = fake_openai.chat_requests
    said = [m["content"] for m in request["messages"] if m["role"] == "user"]
    assert said[-1] == "[sent a photo]"  # the agent is told what came, not an empty line
    [system] = [m["content"] for m in request["messages"] if m["role"] == "system"]
    assert "[sent a photo]" in system and "cannot see" in system  # and not to pretend it saw it
    assert reply["To"] == params["From"] and MEDIA_URL not in reply["Body"]


def test_twilio_s_other_fields_and_bodies_at_its_limits_are_stored_as_sent(
    client: TestClient, jobs_env: Settings
) -> None:
    """Already right before the media notes: kept here so they stay right."""
    business = make_business()
    longest = ("Hola 👋🏽 مرحبا שלום 你好 👨‍👩‍👧‍👦 ") * 53 + "x" * 10
    assert len(longest) == 1600
    extras = {
        "ProfileName": "Ana 🌸",
        "WaId": "34600111222",
        "ButtonText": "Yes, book it",
        "ButtonPayload": "book:yes",
        "OriginalRepliedMessageSid": "SM" + "0" * 32,
        "SmsStatus": "received",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageType": "button",
    }
    bodies = [longest, "  \n\t ", "Yes, book it", "‏مرحبا، هل لديكم موعد غدا؟"]
    for body in bodies:
        _post(client, jobs_env, {**inbound(business.phone_number, body), **extras})

    assert _bodies(business.id, "in") == bodies


def test_an_agent_reply_over_twilio_s_limit_is_shortened_at_a_sentence_and_sent(
    client: TestClient,
    jobs_env: Settings,
    worker: dramatiq.Worker,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> None:
    business = make_business()
    fake_openai.replies = ["We are open every day, 👨‍👩‍👧‍👦 welcome. " * 60]

    _post(client, jobs_env, inbound(business.phone_number, "When are you open?"))

    [sent] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    assert len(sent["Body"]) <= 1600  # Twilio refuses more (21617): no answer at all
    assert sent["Body"].endswith("welcome.…")
    wait_for(lambda: _bodies(business.id, "out") == [sent["Body"]])
