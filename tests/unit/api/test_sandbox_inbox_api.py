"""The sandbox inbox on the API and in the dashboard: each business sees its own messages."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from tests.support.factories import make_business, unique_phone
from tests.unit.api.test_dashboard_pages import log_in


def test_the_inbox_lists_the_business_s_own_replies_newest_first(client) -> None:
    business, other = make_business(), make_business()
    customer = unique_phone()
    for body in ("First answer", "Second answer"):
        adapters().twilio.send_whatsapp(customer, business.phone_number, body)
    adapters().twilio.send_whatsapp(unique_phone(), other.phone_number, "Not yours")

    response = client.get(
        "/api/v1/sandbox/messages", headers={"Authorization": f"Bearer {business.api_key}"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["telephony"] == "sandbox"
    assert [(m["to"], m["from"], m["body"]) for m in body["items"]] == [
        (customer, business.phone_number, "Second answer"),
        (customer, business.phone_number, "First answer"),
    ]


def test_the_inbox_needs_an_api_key_and_a_sane_limit(client) -> None:
    business = make_business()
    auth = {"Authorization": f"Bearer {business.api_key}"}
    assert client.get("/api/v1/sandbox/messages").status_code == 401
    assert client.get("/api/v1/sandbox/messages?limit=0", headers=auth).status_code == 422
    assert client.get("/api/v1/sandbox/messages?limit=201", headers=auth).status_code == 422


def test_the_dashboard_sandbox_page_shows_the_inbox_once_logged_in(client) -> None:
    business = make_business("Acme Dental")
    adapters().twilio.send_whatsapp(unique_phone(), business.phone_number, "We open at 9")
    logged_out = client.get("/dashboard/sandbox", follow_redirects=False)
    assert logged_out.status_code == 303

    log_in(client, business)
    page = client.get("/dashboard/sandbox")

    assert page.status_code == 200
    assert "We open at 9" in page.text and 'href="/dashboard/sandbox"' in page.text
