"""Registering an address the system will connect to (a webhook URL, a push endpoint) that is,
or resolves to, a non-public address is a 422 naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost:5678/webhook/abc", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.0.0.7/hook", "private"),
        ("http://100.64.0.1/hook", "CGNAT"),
        ("http://[fec0::1]/hook", "site-local"),
        ("http://[2002:a00:1::1]/hook", "6to4"),
        ("http://[64:ff9b::7f00:1]/hook", "NAT64"),
        ("http://[::ffff:10.0.0.7]/hook", "IPv4-mapped"),
        ("https://hooks.example.com:25/hook", "port 25"),
    ],
)
def test_a_webhook_to_a_non_public_address_is_refused_naming_the_url(
    client: TestClient, url: str, reason: str
) -> None:
    headers = auth(make_business().api_key)

    answer = client.post("/api/v1/webhooks", json={"url": url}, headers=headers)

    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "url"] and reason in problem["msg"]
    assert client.get("/api/v1/webhooks", headers=headers).json()["items"] == []


def test_changing_a_webhook_url_to_a_private_address_is_refused_and_keeps_the_old_one(
    client: TestClient,
) -> None:
    headers = auth(make_business().api_key)
    created = client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/in"}, headers=headers
    ).json()
    url = f"/api/v1/webhooks/{created['id']}"

    answer = client.patch(url, json={"url": "http://192.168.1.1/admin"}, headers=headers)

    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "url"]
    assert client.get(url, headers=headers).json()["url"] == "https://hooks.example.com/in"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1:8443/push/x",
        "https://[fd00::1]/push/x",
        "https://[::1]/x",
        "https://push.example.com:6667/x",
    ],
)
def test_a_push_subscription_to_a_non_public_address_is_refused_naming_the_endpoint(
    client: TestClient, endpoint: str
) -> None:
    headers = auth(make_business().api_key)

    answer = client.post(
        "/api/v1/push-subscriptions",
        json={"endpoint": endpoint, "keys": rows.push_keys()},
        headers=headers,
    )

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "endpoint"]
    assert client.get("/api/v1/push-subscriptions", headers=headers).json()["items"] == []
