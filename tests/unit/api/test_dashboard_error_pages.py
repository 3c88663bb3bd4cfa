"""A console page given a bad value (a query parameter it cannot take, a path id that is not a
number or not there) answers a page of the console, not the API's JSON: the same status,
the parameter named, the value given escaped, what it may be, a link back. An htmx request
gets that as a fragment; the JSON API and the console's JSON feed keep their JSON errors."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from fastapi.routing import APIRoute

from tests.support.factories import TestBusiness, make_business
from tests.unit.api.test_dashboard_pages import log_in
from tests.unit.api.test_dashboard_web_security import _routes

HOSTILE = "<img src=x onerror=alert(1)>"  # no "/": it fits in one path segment
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
MISSING = 987_654_321


class Bad(NamedTuple):
    """A bad request to a console page and what its error page must say."""

    url: str
    status: int
    parameter: str | None  # named on the page (a 404 names no parameter)
    shown: str | None  # the value given, as the page shows it (a cursor's refusal echoes none)


#: For every console GET route that takes a query or path parameter: bad values of them.
BAD: dict[str, list[Bad]] = {
    "/dashboard/leads": [
        Bad(f"/dashboard/leads?cursor={HOSTILE}", 422, "cursor", None),
        Bad("/dashboard/leads?q=" + "x" * 201, 422, "q", "[201 characters, cut]"),
    ],
    "/dashboard/calls": [
        Bad(f"/dashboard/calls?direction={HOSTILE}", 422, "direction", ESCAPED),
        Bad(f"/dashboard/calls?cursor={HOSTILE}", 422, "cursor", None),
    ],
    "/dashboard/calls/{call_id}": [
        Bad(f"/dashboard/calls/{HOSTILE}", 422, "call_id", ESCAPED),
        Bad("/dashboard/calls/0", 422, "call_id", '<code class="error-text">0</code>'),
        Bad("/dashboard/calls/1.0", 422, "call_id", '<code class="error-text">1.0</code>'),
        Bad(f"/dashboard/calls/{MISSING}", 404, None, None),
    ],
    "/dashboard/calls/{call_id}/recordings/{recording_id}/audio": [
        Bad(f"/dashboard/calls/1/recordings/{HOSTILE}/audio", 422, "recording_id", ESCAPED),
        Bad("/dashboard/calls/1/recordings/%2B1/audio", 422, "recording_id", ">+1</code>"),
        Bad(f"/dashboard/calls/{MISSING}/recordings/1/audio", 404, None, None),
    ],
    "/dashboard/conversations": [
        Bad(f"/dashboard/conversations?cursor={HOSTILE}", 422, "cursor", None),
    ],
    "/dashboard/conversations/{conversation_id}": [
        Bad(f"/dashboard/conversations/{HOSTILE}", 422, "conversation_id", ESCAPED),
        Bad("/dashboard/conversations/%201", 422, "conversation_id", "> 1</code>"),
        Bad(f"/dashboard/conversations/{MISSING}", 404, None, None),
    ],
    "/dashboard/erasures": [Bad(f"/dashboard/erasures?cursor={HOSTILE}", 422, "cursor", None)],
    "/dashboard/erasures/{erasure_id}": [
        Bad(f"/dashboard/erasures/{HOSTILE}", 422, "erasure_id", ESCAPED),
        Bad("/dashboard/erasures/1_0", 422, "erasure_id", ">1_0</code>"),
        Bad(f"/dashboard/erasures/{MISSING}", 404, None, None),
        Bad(f"/dashboard/erasures/1?done={HOSTILE}", 422, "done", ESCAPED),
    ],
    "/dashboard/jobs": [
        Bad(f"/dashboard/jobs?state={HOSTILE}", 422, "state", ESCAPED),
        Bad(f"/dashboard/jobs?done={HOSTILE}", 422, "done", ESCAPED),
        Bad(f"/dashboard/jobs?n={HOSTILE}", 422, "n", ESCAPED),
        Bad("/dashboard/jobs?refused=-1", 422, "refused", '<code class="error-text">-1</code>'),
        Bad("/dashboard/jobs?n=7.0", 422, "n", ">7.0</code>"),
        Bad("/dashboard/jobs?refused=%2B7", 422, "refused", ">+7</code>"),
        Bad(f"/dashboard/jobs?cursor={HOSTILE}", 422, "cursor", None),
        Bad("/dashboard/jobs?state=dead&state=failed", 422, "state", "given more than once"),
    ],
    "/dashboard/jobs/{job_id}": [
        Bad(f"/dashboard/jobs/{HOSTILE}", 404, None, ESCAPED),  # "job <...> not found"
        Bad(f"/dashboard/jobs/x?done={HOSTILE}", 422, "done", ESCAPED),
    ],
    "/dashboard/runs": [Bad(f"/dashboard/runs?cursor={HOSTILE}", 422, "cursor", None)],
    "/dashboard/runs/new": [
        Bad("/dashboard/runs/new?q=" + "x" * 201, 422, "q", "[201 characters, cut]")
    ],
    "/dashboard/runs/{run_id}": [
        Bad(f"/dashboard/runs/{HOSTILE}", 422, "run_id", ESCAPED),
        Bad("/dashboard/runs/%2B1", 422, "run_id", ">+1</code>"),
        Bad(f"/dashboard/runs/{MISSING}", 404, None, None),
        Bad(f"/dashboard/runs/1?done={HOSTILE}", 422, "done", ESCAPED),
    ],
    "/dashboard/static/{name:path}": [Bad(f"/dashboard/static/{HOSTILE}", 404, None, None)],
}
CASES = [bad for bads in BAD.values() for bad in bads]


@pytest.fixture
def business() -> TestBusiness:
    return make_business("Acme Dental")


def _has_parameters(route: APIRoute) -> bool:
    return bool(route.dependant.query_params or route.dependant.path_params)


def test_every_console_page_with_parameters_has_its_bad_values_here(client) -> None:
    pages = {
        route.path
        for route in _routes(client.app.routes)
        if route.path.startswith("/dashboard") and "GET" in route.methods
        if _has_parameters(route) and not route.path.startswith("/dashboard/api/")
    }
    assert pages == set(BAD), "a new console page with parameters needs its bad values in BAD"


@pytest.mark.parametrize("bad", CASES, ids=[bad.url[:60] for bad in CASES])
def test_a_bad_value_is_a_console_page_naming_it_escaped(client, business, bad: Bad) -> None:
    log_in(client, business)

    answer = client.get(bad.url)

    assert answer.status_code == bad.status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert html.lstrip().startswith("<!doctype html>") and "Acme Dental" in html  # the layout
    assert 'class="card console-error" role="alert"' in html
    assert f"<h1>{bad.status} · " in html
    assert HOSTILE not in html
    if bad.shown is not None:
        assert bad.shown in html
    if bad.parameter is not None:
        assert f'<tr data-parameter="{bad.parameter}">' in html
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_the_page_says_where_the_value_was_what_it_may_be_and_links_back(client, business) -> None:
    log_in(client, business)

    html = client.get("/dashboard/jobs", params={"state": "lost"}).text

    assert "<td><code>state</code></td>\n        <td>query parameter</td>" in html
    assert '<code class="error-text">lost</code>' in html
    # One literal (no union of two): one reason that lists every value, the blank one too.
    assert "Input should be &#39;queued&#39;, &#39;running&#39;" in html
    assert "&#39;cancelled&#39; or &#39;&#39;</td>" in html
    assert '<a href="/dashboard/jobs">Back to Jobs</a>' in html  # the page without the query
    assert '<a href="/dashboard/jobs" aria-current="page">Jobs</a>' in html  # the nav's entry
    run = client.get("/dashboard/runs/abc").text
    assert "<td><code>run_id</code></td>\n        <td>in the address</td>" in run
    assert '<a href="/dashboard/runs">Back to Outbound runs</a>' in run
    missing = client.get(f"/dashboard/calls/{MISSING}").text
    assert f"call {MISSING} not found" in missing
    assert '<a href="/dashboard/calls">Back to Calls</a>' in missing
    nowhere = client.get("/dashboard/nothing-here")
    assert nowhere.status_code == 404 and "404 · Not Found" in nowhere.text
    assert '<a href="/dashboard">Back to Overview</a>' in nowhere.text


def test_an_htmx_request_gets_a_fragment_that_replaces_what_asked(client, business) -> None:
    log_in(client, business)
    htmx = {"HX-Request": "true"}

    for url, status in ((f"/dashboard/runs/{MISSING}", 404), ("/dashboard/jobs?n=many", 422)):
        answer = client.get(url, headers=htmx)

        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.text.lstrip().startswith('<section class="card console-error"')
        assert "<html" not in answer.text and "<nav>" not in answer.text
        assert answer.headers["hx-reswap"] == "outerHTML"
        assert answer.headers["hx-reselect"] == ".console-error"
    # The page lets htmx swap it: a 4xx is shown, not dropped.
    assert '{"code": "4..", "swap": true, "error": true}' in client.get("/dashboard").text


def test_a_poll_whose_session_ended_still_moves_the_page_to_the_login(client) -> None:
    answer = client.get("/dashboard/runs/live", headers={"HX-Request": "true"})

    assert answer.status_code == 401 and answer.headers["hx-redirect"] == "/dashboard/login"


def test_before_login_a_bad_value_is_a_page_without_the_business_and_pages_redirect(
    client, business
) -> None:
    refused = client.get("/dashboard/jobs", params={"state": "lost"}, follow_redirects=False)

    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert "<nav>" not in refused.text and 'data-parameter="state"' in refused.text
    listed = client.get("/dashboard/jobs", params={"state": "dead"}, follow_redirects=False)
    assert listed.status_code == 303 and listed.headers["location"] == "/dashboard/login"


def test_the_json_api_and_the_console_s_json_feed_keep_their_json_errors(client, business) -> None:
    log_in(client, business)
    auth = {"Authorization": f"Bearer {business.api_key}"}

    listed = client.get("/api/v1/jobs", params={"status": HOSTILE}, headers=auth)

    assert listed.status_code == 422 and listed.headers["content-type"] == "application/json"
    body = listed.json()
    assert body["code"] == "validation_error"
    assert body["detail"][0]["loc"] == ["query", "status"] and body["detail"][0]["input"] == HOSTILE
    missing = client.get(f"/api/v1/outbound-runs/{MISSING}", headers=auth)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    client.cookies.clear()
    feed = client.get("/dashboard/api/runs")
    assert feed.status_code == 401 and feed.json()["code"] == "unauthorized"
