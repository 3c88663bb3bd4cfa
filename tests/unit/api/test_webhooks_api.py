from __future__ import annotations

from switchboard.common.db import tenant_session
from switchboard.common.models import Job
from tests.support.factories import make_business
from tests.unit.api.rows import auth


def _create(client, headers, **body):
    payload = {"url": "https://hooks.example.com/in", **body}
    return client.post("/api/v1/webhooks", json=payload, headers=headers)


def test_an_endpoint_shows_its_secret_only_when_created_or_rotated(client) -> None:
    headers = auth(make_business().api_key)
    created = _create(client, headers, kind="n8n", events=["call.ended"])
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    url = f"/api/v1/webhooks/{created.json()['id']}"
    assert "secret" not in client.get(url, headers=headers).json()
    patched = client.patch(url, json={"active": False}, headers=headers).json()
    assert patched["active"] is False and patched["secret"] is None
    rotated = client.patch(url, json={"rotate_secret": True}, headers=headers).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created.json()["secret"]


def test_an_endpoint_url_must_be_http(client) -> None:
    headers = auth(make_business().api_key)
    assert _create(client, headers, url="ftp://example.com/x").status_code == 422
    assert _create(client, headers, kind="smtp").status_code == 422


def test_a_test_delivery_is_logged_and_enqueued(client) -> None:
    business = make_business()
    headers = auth(business.api_key)
    endpoint = _create(client, headers).json()
    queued = client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=headers)
    assert queued.status_code == 202
    delivery = queued.json()["delivery"]
    assert delivery["event_type"] == "webhook.test" and delivery["status"] == "pending"
    with tenant_session(business.id) as session:
        job = session.get(Job, queued.json()["job_id"])
    assert job is not None and job.actor_name == "send_webhook_with_retry_job"
    deliveries = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    assert [d["id"] for d in deliveries.json()["items"]] == [delivery["id"]]
    pending = client.get(
        f"/api/v1/webhooks/{endpoint['id']}/deliveries",
        params={"status": "delivered"},
        headers=headers,
    )
    assert pending.json()["items"] == []


def test_deleting_an_endpoint_removes_it(client) -> None:
    headers = auth(make_business().api_key)
    endpoint = _create(client, headers).json()
    assert client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/webhooks", headers=headers).json()["items"] == []
