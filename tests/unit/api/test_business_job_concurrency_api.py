"""A business's own limits on its jobs executing at once per queue (fair share): an admin sets
them through the API, merged per queue; bad values are 422."""

from __future__ import annotations

from tests.support.factories import make_business
from tests.unit.api.rows import auth


def test_an_admin_sets_merges_and_clears_a_business_s_job_limits(client, admin) -> None:
    business = make_business()
    url = f"/api/v1/businesses/{business.id}"
    assert client.get(url, headers=admin).json()["job_concurrency"] == {}
    body = {"job_concurrency": {"analysis": 2, "whatsapp": 3}}
    assert client.patch(url, json=body, headers=admin).json()["job_concurrency"] == {
        "analysis": 2,
        "whatsapp": 3,
    }
    body = {"job_concurrency": {"analysis": None, "calls": 5}}
    updated = client.patch(url, json=body, headers=admin).json()
    assert updated["job_concurrency"] == {"whatsapp": 3, "calls": 5}
    me = client.get("/api/v1/businesses/me", headers=auth(business.api_key)).json()
    assert me["job_concurrency"] == {"whatsapp": 3, "calls": 5}


def test_bad_job_limits_are_422_and_a_business_cannot_set_its_own(client, admin) -> None:
    business = make_business()
    url = f"/api/v1/businesses/{business.id}"
    for limits in (
        {"analysis": 0},
        {"analysis": -1},
        {"analysis": 10_001},
        {"analysis": "many"},
        {"no_such_queue": 2},
        None,
        [2],
    ):
        response = client.patch(url, json={"job_concurrency": limits}, headers=admin)
        assert response.status_code == 422, (limits, response.text)
    assert client.get(url, headers=admin).json()["job_concurrency"] == {}
    own = {"job_concurrency": {"analysis": 100}}
    headers = auth(business.api_key)
    assert client.patch("/api/v1/businesses/me", json=own, headers=headers).status_code == 422
