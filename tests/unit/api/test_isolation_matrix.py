"""Every route that names an object × another business's id → 404; lists never show foreign rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.jobs import enqueue
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.factories import TestBusiness, make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth

#: Prefixes whose isolation this matrix owns (outbound runs are tested with their engine).
OWNED = (
    "/api/v1/leads",
    "/api/v1/calls",
    "/api/v1/conversations",
    "/api/v1/webhooks",
    "/api/v1/reminders",
    "/api/v1/push-subscriptions",
    "/api/v1/jobs",
)

#: (method, path template, JSON body) for every route that names an object.
MATRIX = [
    ("GET", "/api/v1/leads/{lead}", None),
    ("PATCH", "/api/v1/leads/{lead}", {"name": "stolen"}),
    ("DELETE", "/api/v1/leads/{lead}", None),
    ("GET", "/api/v1/calls/{call}", None),
    ("GET", "/api/v1/calls/{call}/recordings/{recording}/audio", None),
    ("GET", "/api/v1/conversations/{conversation}", None),
    ("GET", "/api/v1/conversations/{conversation}/messages", None),
    ("POST", "/api/v1/conversations/{conversation}/messages", {"body": "spam"}),
    ("GET", "/api/v1/webhooks/{endpoint}", None),
    ("PATCH", "/api/v1/webhooks/{endpoint}", {"rotate_secret": True}),
    ("DELETE", "/api/v1/webhooks/{endpoint}", None),
    ("GET", "/api/v1/webhooks/{endpoint}/deliveries", None),
    ("POST", "/api/v1/webhooks/{endpoint}/test", None),
    ("GET", "/api/v1/reminders/{reminder}", None),
    ("PATCH", "/api/v1/reminders/{reminder}", {"title": "stolen"}),
    ("DELETE", "/api/v1/reminders/{reminder}", None),
    ("GET", "/api/v1/push-subscriptions/{subscription}", None),
    ("DELETE", "/api/v1/push-subscriptions/{subscription}", None),
    ("GET", "/api/v1/jobs/{job}", None),
    ("POST", "/api/v1/jobs/{job}/cancel", None),
    ("POST", "/api/v1/jobs/{job}/retry", None),
]
LISTS = [
    *OWNED,
    "/api/v1/webhooks/{endpoint}/deliveries",
    "/api/v1/conversations/{conversation}/messages",
]


@dataclass
class Owned:
    owner: TestBusiness
    intruder: TestBusiness
    ids: dict[str, object]


@pytest.fixture
def owned(client, embedded: Settings) -> Owned:
    owner, intruder = make_business(), make_business()
    headers = auth(owner.api_key)
    lead = rows.lead(owner.id, name="Owner's lead")
    call = rows.call(owner.id, lead_id=lead.id)
    audio_key = f"{owner.id}/owned.wav"
    make_recording_storage(embedded).put(audio_key, b"RIFF owner's audio")
    recording = rows.recording(owner.id, call, storage_key=audio_key)
    conversation = rows.conversation(owner.id, lead_id=lead.id)
    rows.message(owner.id, conversation.id)
    endpoint = client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/x"}, headers=headers
    ).json()
    rows.delivery(owner.id, endpoint["id"])
    reminder = client.post(
        "/api/v1/reminders",
        json={"title": "mine", "due_at": "2030-01-01T09:00:00Z", "lead_id": lead.id},
        headers=headers,
    ).json()
    subscription = client.post(
        "/api/v1/push-subscriptions",
        json={"endpoint": "https://push.example.com/a", "keys": rows.push_keys()},
        headers=headers,
    ).json()
    job = enqueue(actors.NOOP, business_id=owner.id).job_id
    ids = {
        "lead": lead.id,
        "call": call.id,
        "recording": recording.id,
        "conversation": conversation.id,
        "endpoint": endpoint["id"],
        "reminder": reminder["id"],
        "subscription": subscription["id"],
        "job": job,
    }
    return Owned(owner, intruder, ids)


def test_the_matrix_covers_every_route_that_names_an_object(client) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in client.app.openapi()["paths"].items()
        if path.startswith(OWNED) and "{" in path
        for method in operations
    }
    covered = {(method, _template(path)) for method, path, _ in MATRIX}
    assert {(m, _template(p)) for m, p in routes} == covered


@pytest.mark.parametrize(("method", "path", "body"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_another_business_s_object_is_404_and_stays_untouched(client, owned, method, path, body):
    url = path.format(**owned.ids)
    response = client.request(method, url, json=body, headers=auth(owned.intruder.api_key))
    assert response.status_code == 404, response.text
    owner_view = client.get(
        url.removesuffix("/cancel").removesuffix("/retry").removesuffix("/test"),
        headers=auth(owned.owner.api_key),
    )
    assert owner_view.status_code == 200
    assert "stolen" not in owner_view.text


@pytest.mark.parametrize("path", LISTS)
def test_lists_never_show_another_business_s_rows(client, owned, path):
    mine = client.get(path.format(**owned.ids), headers=auth(owned.owner.api_key))
    assert mine.status_code == 200 and mine.json()["items"], path
    if "{" in path:  # a foreign parent is simply not found
        theirs = client.get(path.format(**owned.ids), headers=auth(owned.intruder.api_key))
        assert theirs.status_code == 404
    else:
        theirs = client.get(path, headers=auth(owned.intruder.api_key))
        assert theirs.status_code == 200 and theirs.json()["items"] == []


def test_filters_naming_a_foreign_lead_find_nothing(client, owned) -> None:
    headers = auth(owned.intruder.api_key)
    for path in ("/api/v1/calls", "/api/v1/conversations", "/api/v1/reminders"):
        response = client.get(path, params={"lead_id": owned.ids["lead"]}, headers=headers)
        assert response.json()["items"] == [], path
    search = client.get("/api/v1/leads", params={"q": "Owner"}, headers=headers)
    assert search.json()["items"] == []


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)
