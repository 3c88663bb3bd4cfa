from __future__ import annotations

from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.models import Job, WebhookDelivery
from tests.support.factories import make_business
from tests.unit.api import rows
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


def test_a_test_event_is_enqueued_for_the_endpoint_s_kind(client) -> None:
    business = make_business()
    headers = auth(business.api_key)
    for kind, actor in (
        ("generic", "send_webhook_with_retry_job"),
        ("n8n", "send_webhook_to_n8n_job"),
    ):
        endpoint = _create(client, headers, kind=kind).json()
        queued = client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=headers)
        assert queued.status_code == 202
        body = queued.json()
        assert body["event_type"] == "webhook.test" and body["actor_name"] == actor
        with tenant_session(business.id) as session:
            job = session.get(Job, body["job_id"])
        assert job is not None and (job.actor_name, job.queue_name) == (actor, "webhooks")
        with tenant_session(business.id) as session:
            delivery = session.execute(
                select(WebhookDelivery).where(WebhookDelivery.event_id == body["event_id"])
            ).scalar_one()
        assert (delivery.endpoint_id, delivery.status) == (endpoint["id"], "pending")
        assert f'"delivery_id":{delivery.id}' in job.message.replace(" ", "")


def test_deliveries_list_an_endpoint_s_attempts_newest_first(client) -> None:
    business = make_business()
    headers = auth(business.api_key)
    endpoint = _create(client, headers).json()
    first = rows.delivery(business.id, endpoint["id"], status="failed")
    second = rows.delivery(business.id, endpoint["id"], status="delivered")
    url = f"/api/v1/webhooks/{endpoint['id']}/deliveries"
    assert [d["id"] for d in client.get(url, headers=headers).json()["items"]] == [
        second.id,
        first.id,
    ]
    failed = client.get(url, params={"status": "failed"}, headers=headers).json()["items"]
    assert [d["id"] for d in failed] == [first.id]


def test_deleting_an_endpoint_removes_it(client) -> None:
    headers = auth(make_business().api_key)
    endpoint = _create(client, headers).json()
    assert client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/webhooks", headers=headers).json()["items"] == []


def _error(response) -> tuple[list[object], str]:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    return error["loc"], error["msg"]


def test_a_url_longer_than_its_column_once_normalised_is_a_422_on_create_and_update(
    client,
) -> None:
    headers = auth(make_business().api_key)
    fits = _create(client, headers, url="https://example.com/" + "a" * 980)
    assert fits.status_code == 201 and len(fits.json()["url"]) == 1000
    url = f"/api/v1/webhooks/{fits.json()['id']}"
    # 320 characters sent, 1,820 once each "é" is percent-encoded.
    for long_url in ("https://example.com/" + "a" * 981, "https://example.com/" + "é" * 300):
        loc, msg = _error(_create(client, headers, url=long_url))
        assert loc == ["body", "url"] and "at most 1000" in msg
        loc, msg = _error(client.patch(url, json={"url": long_url}, headers=headers))
        assert loc == ["body", "url"] and "at most 1000" in msg
    assert client.get(url, headers=headers).json()["url"] == fits.json()["url"]


def test_events_are_at_least_one_each_named_once(client) -> None:
    headers = auth(make_business().api_key)
    assert _error(_create(client, headers, events=[]))[0] == ["body", "events"]
    loc, msg = _error(_create(client, headers, events=["call.ended", "call.ended"]))
    assert loc == ["body", "events"] and "call.ended" in msg
    created = _create(client, headers, events=["call.ended"]).json()
    patch = client.patch(f"/api/v1/webhooks/{created['id']}", json={"events": []}, headers=headers)
    assert _error(patch)[0] == ["body", "events"]
    assert _create(client, headers, events=None).json()["events"] is None


def test_a_deliveries_status_filter_takes_known_states_only(client) -> None:
    headers = auth(make_business().api_key)
    endpoint = _create(client, headers).json()
    url = f"/api/v1/webhooks/{endpoint['id']}/deliveries"
    loc, msg = _error(client.get(url, params={"status": "bogus"}, headers=headers))
    assert loc == ["query", "status"] and "'refused'" in msg
    assert client.get(url, params={"status": "refused"}, headers=headers).status_code == 200
