"""A number moved to another business, or an agent setting changed, takes effect at once: the
next WhatsApp message is stored under (and answered by) the new business, and the gateway's
next call gets the new config."""

from __future__ import annotations

import json
import time

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from switchboard.common.db import system_session
from switchboard.common.models import Job, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.voice_gateway.adapters.agent_config_api import ApiAgentConfigSource
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.ports.agent_config import CachedAgentConfigSource
from tests.support.factories import make_business, unique_phone

PATH = "/webhooks/twilio/whatsapp"


def signed(settings: Settings, params: dict[str, str]) -> dict[str, str]:
    """Twilio's signature header for the webhook's form ``params``."""
    validator = RequestValidator(settings.twilio_auth_token)
    return {"X-Twilio-Signature": validator.compute_signature(settings.api_base_url + PATH, params)}


def send_whatsapp(client: TestClient, settings: Settings, to: str, sid: str) -> None:
    """Post Twilio's signed inbound-message webhook for a message to ``to``."""
    params = {
        "MessageSid": sid,
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{to}",
        "Body": "Hi",
    }
    response = client.post(PATH, data=params, headers=signed(settings, params))
    assert response.status_code == 200, response.text


def owner_and_answerer(sid: str) -> tuple[int, int]:
    """The business the message is stored under, and the one its answer job runs for."""
    with system_session() as session:
        message = session.execute(
            select(WhatsAppMessage).where(WhatsAppMessage.message_sid == sid)
        ).scalar_one()
        jobs = session.execute(
            select(Job).where(Job.actor_name == "process_whatsapp_webhook_job")
        ).scalars()
        [job] = [j for j in jobs if json.loads(j.message)["kwargs"]["message_id"] == message.id]
    return message.business_id, job.business_id


def move_number(client: TestClient, admin: dict[str, str], number: str, to_id: int, from_id: int):
    """The admin moves ``number`` from one business to another, as an operator would."""
    freed = client.patch(
        f"/api/v1/businesses/{from_id}", json={"phone_number": unique_phone()}, headers=admin
    )
    taken = client.patch(
        f"/api/v1/businesses/{to_id}", json={"phone_number": number}, headers=admin
    )
    assert (freed.status_code, taken.status_code) == (200, 200), taken.text


def test_a_message_to_a_moved_number_goes_to_its_new_business_at_once(
    client, admin, embedded
) -> None:
    old, new = make_business(), make_business()
    number = old.phone_number
    send_whatsapp(client, embedded, number, f"SM{unique_phone()[1:]}a")  # the lookup is warm
    move_number(client, admin, number, new.id, old.id)
    sid = f"SM{unique_phone()[1:]}b"
    send_whatsapp(client, embedded, number, sid)
    assert owner_and_answerer(sid) == (new.id, new.id)


class CountingTransport(httpx.ASGITransport):
    """The API app in-process, noting the status of every answer."""

    statuses: list[int]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


async def test_the_gateway_s_next_call_gets_a_changed_setting_and_a_moved_number(
    client, admin, embedded
) -> None:
    old, new = make_business(), make_business()
    transport = CountingTransport(app=client.app)
    transport.statuses = []
    configs = CachedAgentConfigSource(
        ApiAgentConfigSource("http://api", embedded.internal_api_token, 5.0, transport=transport),
        GatewaySettings().agent_config_ttl_s,
        time.monotonic,
    )
    first = await configs.get(old.phone_number)
    assert first is not None and first.business_id == old.id
    assert await configs.get(old.phone_number) == first  # unchanged: a bodiless 304
    assert transport.statuses == [200, 304]
    changed = client.patch(
        f"/api/v1/businesses/{old.id}",
        json={"agent": {"greeting": "Hi, new hours!"}},
        headers=admin,
    )
    assert changed.status_code == 200
    second = await configs.get(old.phone_number)
    assert second is not None and second.greeting == "Hi, new hours!"
    move_number(client, admin, old.phone_number, new.id, old.id)
    moved = await configs.get(old.phone_number)
    assert moved is not None and moved.business_id == new.id
