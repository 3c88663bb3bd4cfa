from __future__ import annotations

import base64

import pytest
from sqlalchemy import update

from switchboard.common.db import tenant_session
from switchboard.common.models import Reminder
from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth


def test_a_reminder_is_created_filtered_updated_and_deleted(client) -> None:
    business = make_business()
    headers = auth(business.api_key)
    lead = rows.lead(business.id)
    early = client.post(
        "/api/v1/reminders",
        json={"title": "Call Jane", "due_at": "2030-01-01T09:00:00Z", "lead_id": lead.id},
        headers=headers,
    )
    assert early.status_code == 201 and early.json()["status"] == "pending"
    late = client.post(
        "/api/v1/reminders",
        json={"title": "Later", "due_at": "2031-01-01T09:00:00+02:00"},
        headers=headers,
    ).json()
    due = client.get(
        "/api/v1/reminders", params={"due_before": "2030-06-01T00:00:00Z"}, headers=headers
    ).json()
    assert [r["id"] for r in due["items"]] == [early.json()["id"]]
    assert late["due_at"].startswith("2031-01-01T07:00:00")
    url = f"/api/v1/reminders/{late['id']}"
    done = client.patch(url, json={"status": "done", "note": "called"}, headers=headers).json()
    assert done["status"] == "done" and done["note"] == "called"
    assert client.patch(url, json={"status": "sent"}, headers=headers).status_code == 422
    assert client.delete(url, headers=headers).status_code == 204


def test_a_reminder_needs_a_time_zone_and_a_lead_of_this_business(client) -> None:
    business, other = make_business(), make_business()
    headers = auth(business.api_key)
    naive = client.post(
        "/api/v1/reminders", json={"title": "x", "due_at": "2030-01-01T09:00:00"}, headers=headers
    )
    assert naive.status_code == 422
    foreign_lead = rows.lead(other.id)
    foreign = client.post(
        "/api/v1/reminders",
        json={"title": "x", "due_at": "2030-01-01T09:00:00Z", "lead_id": foreign_lead.id},
        headers=headers,
    )
    assert foreign.status_code == 422 and foreign.json()["detail"][0]["loc"] == ["body", "lead_id"]


def test_subscribing_the_same_browser_twice_refreshes_its_keys(client) -> None:
    headers = auth(make_business().api_key)
    body = {
        "endpoint": "https://push.example.com/send/abc",
        "keys": rows.push_keys(),
        "label": "Front desk",
    }
    first = client.post("/api/v1/push-subscriptions", json=body, headers=headers)
    body["keys"] = rows.push_keys()
    again = client.post("/api/v1/push-subscriptions", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and "keys" not in again.json()
    listed = client.get("/api/v1/push-subscriptions", headers=headers).json()["items"]
    assert [s["label"] for s in listed] == ["Front desk"]
    url = f"/api/v1/push-subscriptions/{first.json()['id']}"
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404


def test_a_push_endpoint_must_be_https(client) -> None:
    headers = auth(make_business().api_key)
    body = {"endpoint": "http://push.example.com/x", "keys": rows.push_keys()}
    assert client.post("/api/v1/push-subscriptions", json=body, headers=headers).status_code == 422


def test_a_time_sent_as_a_number_is_a_422_not_seconds_since_1970(client) -> None:
    headers = auth(make_business().api_key)
    for due_at in (-1, "-1", 1_900_000_000, 1.5e9):
        response = client.post(
            "/api/v1/reminders", json={"title": "x", "due_at": due_at}, headers=headers
        )
        assert response.status_code == 422, (due_at, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "due_at"] and "not a number" in error["msg"]
    reminder = client.post(
        "/api/v1/reminders", json={"title": "x", "due_at": "2030-01-01T09:00:00Z"}, headers=headers
    ).json()
    patched = client.patch(
        f"/api/v1/reminders/{reminder['id']}", json={"due_at": 0}, headers=headers
    )
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["body", "due_at"]
    listed = client.get("/api/v1/reminders", params={"due_before": "-1"}, headers=headers)
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == [
        "query",
        "due_before",
    ]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_push_keys_that_no_push_could_use_are_a_422_naming_the_key(client) -> None:
    headers = auth(make_business().api_key)
    good = rows.push_keys()
    point = base64.urlsafe_b64decode(good["p256dh"] + "=")
    bad_keys = [
        ({"p256dh": "x"}, "p256dh"),
        ({"p256dh": good["p256dh"] + "+"}, "p256dh"),  # not the base64url alphabet
        ({"p256dh": _b64url(point[:33])}, "p256dh"),  # a compressed point's length
        ({"p256dh": _b64url(b"\x03" + point[1:])}, "p256dh"),  # not uncompressed
        ({"p256dh": _b64url(b"\x04" + bytes(64))}, "p256dh"),  # not on the curve
        ({"auth": "a"}, "auth"),
        ({"auth": _b64url(bytes(15))}, "auth"),
        ({"auth": _b64url(bytes(32))}, "auth"),
    ]
    for change, key in bad_keys:
        body = {"endpoint": "https://push.example.com/send/x", "keys": {**good, **change}}
        response = client.post("/api/v1/push-subscriptions", json=body, headers=headers)
        assert response.status_code == 422, (change, response.text)
        assert [e["loc"] for e in response.json()["detail"]] == [["body", "keys", key]]
    padded = {"p256dh": good["p256dh"] + "=", "auth": good["auth"] + "=="}
    browser = {"endpoint": "https://push.example.com/send/x", "expirationTime": None}
    created = client.post(
        "/api/v1/push-subscriptions", json={**browser, "keys": padded}, headers=headers
    )
    assert created.status_code == 201, created.text


def test_a_sent_reminder_given_a_new_due_time_is_pending_again(client) -> None:
    business = make_business()
    headers = auth(business.api_key)
    created = client.post(
        "/api/v1/reminders", json={"title": "x", "due_at": "2030-01-01T09:00:00Z"}, headers=headers
    ).json()
    url = f"/api/v1/reminders/{created['id']}"
    with tenant_session(business.id) as session:
        session.execute(update(Reminder).values(status="sent"))
    same = client.patch(url, json={"due_at": "2030-01-01T10:00:00+01:00"}, headers=headers)
    assert same.json()["status"] == "sent"  # the same moment written another way
    snoozed = client.patch(url, json={"due_at": "2030-01-01T09:15:00Z"}, headers=headers)
    assert snoozed.json()["status"] == "pending"
    with tenant_session(business.id) as session:
        session.execute(update(Reminder).values(status="sent"))
    closed = client.patch(
        url, json={"due_at": "2030-01-01T09:30:00Z", "status": "done"}, headers=headers
    )
    assert closed.json()["status"] == "done"


def test_a_query_time_whose_plus_became_a_space_is_a_422_that_says_write_2b(client) -> None:
    headers = auth(make_business().api_key)
    # A + in a query string is a space: curl "...?due_before=2030-01-01T09:00:00+02:00".
    response = client.get("/api/v1/reminders?due_before=2030-01-01T09:00:00+02:00", headers=headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "due_before"] and "%2B" in error["msg"]
    encoded = client.get(
        "/api/v1/reminders?due_before=2030-01-01T09:00:00%2B02:00", headers=headers
    )
    assert encoded.status_code == 200


@pytest.mark.parametrize("due_at", ["2030-01-01T24:00:00Z", "2030-01-01T24:00+02:00"])
def test_24_00_is_a_422_that_says_write_00_00_of_the_next_day(client, due_at: str) -> None:
    headers = auth(make_business().api_key)
    response = client.post(
        "/api/v1/reminders", json={"title": "x", "due_at": due_at}, headers=headers
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "due_at"] and "00:00 of the next day" in error["msg"]


def test_a_filter_time_without_an_offset_is_read_as_utc(client) -> None:
    headers = auth(make_business().api_key)
    client.post(
        "/api/v1/reminders", json={"title": "x", "due_at": "2030-01-01T09:00:00Z"}, headers=headers
    )

    def count(due_before: str) -> int:
        page = client.get("/api/v1/reminders", params={"due_before": due_before}, headers=headers)
        return len(page.json()["items"])

    assert (count("2030-01-01T09:00:01"), count("2030-01-01T09:00:00")) == (1, 0)
    assert (count("2030-01-02"), count("2030-01-01")) == (1, 0)
