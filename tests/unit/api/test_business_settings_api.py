from __future__ import annotations

import pytest

from tests.support.factories import make_business, unique_phone
from tests.unit.api.rows import auth


def _actors(client, headers) -> list[str]:
    return sorted(
        job["actor_name"] for job in client.get("/api/v1/jobs", headers=headers).json()["items"]
    )


def test_me_shows_the_agent_settings(client) -> None:
    headers = auth(make_business().api_key)
    body = client.get("/api/v1/businesses/me", headers=headers).json()
    assert body["agent"]["greeting"] and body["agent"]["silence_timeout_s"] == 8


def test_changing_agent_settings_rebuilds_the_prompt_and_rewarms(client) -> None:
    headers = auth(make_business().api_key)
    response = client.patch(
        "/api/v1/businesses/me",
        json={"timezone": "Europe/Paris", "agent": {"greeting": "Bonjour!", "language": "fr"}},
        headers=headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "Europe/Paris" and body["agent"]["greeting"] == "Bonjour!"
    assert _actors(client, headers) == ["prebuild_prompt_job", "warmup_business_job"]


def test_an_empty_change_enqueues_nothing_and_bad_fields_are_422(client) -> None:
    headers = auth(make_business().api_key)
    assert client.patch("/api/v1/businesses/me", json={}, headers=headers).status_code == 200
    assert _actors(client, headers) == []
    for body in (
        {"phone_number": "+15550001111"},  # only an admin may change the number
        {"agent": {"silence_timeout_s": 0}},
        {"agent": {"greeting": None}},
        {"timezone": "Mars/Olympus"},
    ):
        assert client.patch("/api/v1/businesses/me", json=body, headers=headers).status_code == 422


def test_admin_lists_reads_and_updates_any_business(client, admin) -> None:
    business = make_business("Zebra Dental")
    listed = client.get("/api/v1/businesses", params={"q": "zebra"}, headers=admin).json()
    assert [b["id"] for b in listed["items"]] == [business.id]
    detail = client.get(f"/api/v1/businesses/{business.id}", headers=admin).json()
    assert detail["agent"]["agent_name"]
    new_phone = unique_phone()
    updated = client.patch(
        f"/api/v1/businesses/{business.id}",
        json={"phone_number": new_phone, "outbound_concurrency_cap": 9},
        headers=admin,
    ).json()
    assert updated["phone_number"] == new_phone and updated["outbound_concurrency_cap"] == 9


def test_admin_routes_refuse_business_keys_and_unknown_ids_are_404(client, admin) -> None:
    business = make_business()
    headers = auth(business.api_key)
    assert client.get("/api/v1/businesses", headers=headers).status_code == 403
    assert client.get(f"/api/v1/businesses/{business.id}", headers=headers).status_code == 403
    assert (
        client.patch(f"/api/v1/businesses/{business.id}", json={}, headers=headers).status_code
        == 403
    )
    assert client.get("/api/v1/businesses/999999", headers=admin).status_code == 404
    assert (
        client.patch("/api/v1/businesses/999999", json={"name": "x"}, headers=admin).status_code
        == 404
    )


def test_admin_moving_a_business_to_a_taken_number_is_a_409(client, admin) -> None:
    first, second = make_business(), make_business()
    response = client.patch(
        f"/api/v1/businesses/{second.id}", json={"phone_number": first.phone_number}, headers=admin
    )
    assert response.status_code == 409 and first.phone_number in response.json()["detail"]


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "europe/london"])
def test_a_time_zone_that_is_not_an_iana_name_is_a_422_naming_it(client, admin, zone) -> None:
    headers = auth(make_business().api_key)
    patched = client.patch("/api/v1/businesses/me", json={"timezone": zone}, headers=headers)
    assert patched.status_code == 422, patched.text
    assert patched.json()["detail"][0]["loc"] == ["body", "timezone"]
    body = {"name": "Acme", "phone_number": unique_phone(), "timezone": zone}
    created = client.post("/api/v1/businesses", json=body, headers=admin)
    assert created.status_code == 422
    assert created.json()["detail"][0]["loc"] == ["body", "timezone"]
    kept = client.patch("/api/v1/businesses/me", json={"timezone": "Asia/Kolkata"}, headers=headers)
    assert kept.status_code == 200


@pytest.mark.parametrize(
    ("zone", "says"),
    [
        ("asia/kathmandu", "did you mean 'Asia/Kathmandu'?"),
        ("Etc/GMT+5", "'Etc/GMT+5' is UTC-05:00"),
        ("Etc/GMT-14", "'Etc/GMT-14' is UTC+14:00"),
    ],
)
def test_a_zone_written_in_the_wrong_case_or_with_a_posix_sign_is_a_422_that_says_so(
    client, zone: str, says: str
) -> None:
    headers = auth(make_business().api_key)
    patched = client.patch("/api/v1/businesses/me", json={"timezone": zone}, headers=headers)
    assert patched.status_code == 422, patched.text
    [error] = patched.json()["detail"]
    assert error["loc"] == ["body", "timezone"] and says in error["msg"], error


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "Pacific/Chatham", "Etc/GMT", "Etc/GMT+0"])
def test_zones_off_the_whole_hour_and_utc_by_any_name_are_taken(client, zone: str) -> None:
    headers = auth(make_business().api_key)
    patched = client.patch("/api/v1/businesses/me", json={"timezone": zone}, headers=headers)
    assert patched.status_code == 200 and patched.json()["timezone"] == zone
