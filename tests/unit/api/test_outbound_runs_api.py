"""An outbound run's calling window: two times of day in the business's zone, to the minute.

Stored as ``HH:MM``, so an offset (``09:00+05:00``) or seconds would be dropped without a word;
a window that starts when it ends would never call."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth


@pytest.mark.parametrize(
    ("start", "end", "loc"),
    [
        ("09:00+05:00", "18:00", "window_start"),
        ("09:00", "18:00Z", "window_end"),
        ("09:00:30", "18:00", "window_start"),
        ("09:00", "09:00", "window_end"),
        ("09:00", "09:00:00", "window_end"),
    ],
)
def test_a_window_with_an_offset_seconds_or_no_length_is_a_422_naming_it(
    client: TestClient, start: str, end: str, loc: str
) -> None:
    business = make_business()
    rows.lead(business.id)
    response = client.post(
        "/api/v1/outbound-runs",
        json={"name": "Run", "filter": {}, "window_start": start, "window_end": end},
        headers=auth(business.api_key),
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", loc]]


@pytest.mark.parametrize(("start", "end"), [("09:00", "18:00"), ("22:00", "06:00:00")])
def test_a_window_of_minutes_is_kept_as_given(client: TestClient, start: str, end: str) -> None:
    business = make_business()
    rows.lead(business.id)
    response = client.post(
        "/api/v1/outbound-runs",
        json={"name": "Run", "filter": {}, "window_start": start, "window_end": end},
        headers=auth(business.api_key),
    )
    assert response.status_code == 201, response.text
    assert (response.json()["window_start"], response.json()["window_end"]) == (start, end[:5])


@pytest.mark.parametrize(
    ("start", "end", "loc"), [("09:00", "24:00", "window_end"), ("24:00", "06:00", "window_start")]
)
def test_24_00_is_a_422_that_says_midnight_is_00_00(
    client: TestClient, start: str, end: str, loc: str
) -> None:
    business = make_business()
    rows.lead(business.id)
    response = client.post(
        "/api/v1/outbound-runs",
        json={"name": "Run", "filter": {}, "window_start": start, "window_end": end},
        headers=auth(business.api_key),
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", loc] and "ends at 00:00" in error["msg"]


def test_a_run_over_a_lead_with_the_business_s_own_number_is_a_422_naming_it(
    client: TestClient,
) -> None:
    """Such a lead (written before the rule, or by a call) would have the agent call itself."""
    business = make_business()
    own = rows.lead(business.id, phone=business.phone_number)
    rows.lead(business.id)

    response = client.post(
        "/api/v1/outbound-runs", json={"name": "Run", "filter": {}}, headers=auth(business.api_key)
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "filter"], "own_number")
    assert (
        f"own number, the one its agent answers: the agent cannot call or message itself ({own.id})"
        in error["msg"]
    )
