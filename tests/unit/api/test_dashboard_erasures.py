"""The console's erasures: the form requests one (a repeat shows the unfinished one), the list
and the page show status and counts, and no page shows the number, before or after it is done;
a number that is not one is said on the page and requests nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from switchboard.common.db import tenant_session
from switchboard.common.models import Erasure
from switchboard.domain.erasures import ERASED_KINDS
from tests.support.factories import make_business, unique_phone
from tests.unit.api.test_dashboard_pages import log_in


def _request(client: TestClient, csrf: str, phone: str):
    return client.post(
        "/dashboard/erasures", data={"csrf_token": csrf, "phone": phone}, follow_redirects=False
    )


def test_the_form_requests_an_erasure_shown_with_its_counts_and_never_its_number(
    client: TestClient,
) -> None:
    business = make_business()
    csrf = log_in(client, business)
    phone = unique_phone()

    answer = _request(client, csrf, phone)

    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/dashboard/erasures/") and location.endswith("?done=requested")
    erasure_id = int(location.split("/")[-1].split("?")[0])
    shown = client.get(location)
    assert shown.status_code == 200 and "Erasure requested" in shown.text
    assert 'id="erasure-state">pending<' in shown.text
    assert all(f'data-kind="{kind}"' in shown.text for kind in ERASED_KINDS)
    assert phone not in shown.text and phone[1:] not in shown.text
    listed = client.get("/dashboard/erasures")
    assert f'data-erasure="{erasure_id}"' in listed.text and phone not in listed.text
    assert 'href="/dashboard/erasures" aria-current="page"' in listed.text  # in the navigation

    again = _request(client, csrf, phone)
    assert again.headers["location"] == f"/dashboard/erasures/{erasure_id}?done=repeated"
    assert "already under way" in client.get(again.headers["location"]).text

    with tenant_session(business.id) as session:  # as the job leaves it
        erasure = session.get(Erasure, erasure_id)
        assert erasure is not None
        erasure.status, erasure.phone, erasure.counts = "done", None, {"leads": 1, "calls": 2}
    done = client.get(f"/dashboard/erasures/{erasure_id}")
    assert 'id="erasure-state">done<' in done.text
    assert '<tr data-kind="calls"><td>calls</td><td class="num">2</td></tr>' in done.text
    listed = client.get("/dashboard/erasures").text
    assert '<td class="num">3</td>' in listed and phone not in listed and phone[1:] not in listed


def test_a_number_that_is_not_one_is_said_on_the_form_and_requests_nothing(
    client: TestClient,
) -> None:
    csrf = log_in(client, make_business())

    answer = _request(client, csrf, "555-1234")

    assert answer.status_code == 422
    assert "Not a phone number in E.164 form" in answer.text
    assert 'value="555-1234"' in answer.text  # given back to be corrected
    assert 'data-erasure="' not in answer.text


def test_the_business_s_own_number_is_said_on_the_form_and_requests_nothing(
    client: TestClient,
) -> None:
    business = make_business()
    csrf = log_in(client, business)

    answer = _request(client, csrf, business.phone_number)

    assert answer.status_code == 422
    assert "this business&#39;s own number, not a person&#39;s" in answer.text
    assert 'data-erasure="' not in answer.text


def test_the_erasures_pages_need_a_login(client: TestClient) -> None:
    for path in ("/dashboard/erasures", "/dashboard/erasures/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
