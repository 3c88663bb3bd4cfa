from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from switchboard.api.dashboard.console import NAV
from switchboard.api.dashboard.headers import SECURITY_HEADERS
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.service import get_job
from switchboard.domain.outbound import runs
from switchboard.worker.runtime.ledger import mark_dead
from tests.support import actors
from tests.support.factories import TestBusiness, make_business
from tests.unit.api import rows


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def log_in(client: TestClient, business: TestBusiness) -> str:
    token = _csrf(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login",
        data={"api_key": business.api_key, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return _csrf(client.get("/dashboard").text)


@pytest.fixture
def business() -> TestBusiness:
    return make_business("Acme Dental")


def test_pages_redirect_to_login_until_logged_in(client, business) -> None:
    for path in ("/dashboard", "/dashboard/runs", "/dashboard/calls", "/dashboard/jobs"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    feed = client.get("/dashboard/api/runs")
    assert feed.status_code == 401
    assert feed.json() == {
        "code": "unauthorized",
        "detail": "not logged in: log in at /dashboard/login",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dashboard"),
        ("GET", "/dashboard/jobs?state=dead"),
        ("GET", "/dashboard/runs/1"),
        ("POST", "/dashboard/jobs/bulk"),  # a form posted without a login
    ],
)
def test_the_redirect_to_the_login_page_is_a_browser_s_not_the_api_s_json(
    client, business, method: str, path: str
) -> None:
    """Before, its body was the API's error, ``{"code":"client_error","detail":"log in"}``,
    ``application/json``: what a browser shows of a redirect it does not follow."""
    form = {"action": "retry", "csrf_token": "x"} if method == "POST" else None
    answer = client.request(method, path, data=form, follow_redirects=False)

    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<a href="/dashboard/login">' in answer.text and "{" not in answer.text
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value, name


def test_logged_out_htmx_and_the_api_keep_their_answers(client, business) -> None:
    polled = client.get("/dashboard/runs/live", headers={"HX-Request": "true"})
    assert polled.status_code == 401 and polled.headers["hx-redirect"] == "/dashboard/login"
    refused = client.get("/api/v1/leads")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    assert refused.headers["content-type"] == "application/json"


def test_logging_in_needs_the_form_s_csrf_token_and_a_valid_key(client, business) -> None:
    token = _csrf(client.get("/dashboard/login").text)
    forged = client.post("/dashboard/login", data={"api_key": business.api_key, "csrf_token": "x"})
    assert forged.status_code == 403
    wrong = client.post("/dashboard/login", data={"api_key": "sbk_nope", "csrf_token": token})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    log_in(client, business)
    overview = client.get("/dashboard")
    assert overview.status_code == 200 and "Acme Dental" in overview.text
    assert "default-src 'self'" in overview.headers["content-security-policy"]


def test_a_tampered_cookie_is_no_session(client, business) -> None:
    log_in(client, business)
    tampered = client.cookies.get("sb_dashboard")[:-2] + "xx"
    client.cookies.clear()
    client.cookies.set("sb_dashboard", tampered)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_overview_shows_active_calls_and_queues(client, business) -> None:
    rows.live_call(business.id)
    enqueue(actors.NOOP, business_id=business.id)
    log_in(client, business)
    html = client.get("/dashboard").text
    assert '<span class="value" id="active-calls">1</span>' in html
    assert '<td>test_jobs</td><td class="num">1</td>' in html


def test_the_runs_feed_lists_only_runs_with_a_fresh_heartbeat(client, business) -> None:
    live = rows.running_run(business.id, items=4)
    rows.running_run(business.id, items=2, heartbeat_age_s=3600)  # its owner died
    log_in(client, business)
    runs = client.get("/dashboard/api/runs").json()["runs"]
    assert [run["id"] for run in runs] == [live.id]
    assert {k: runs[0][k] for k in ("total", "placed", "completed", "progress", "active")} == {
        "total": 4,
        "placed": 0,
        "completed": 0,
        "progress": 0.0,
        "active": True,
    }


def test_calls_and_leads_pages_show_transcripts_and_search(client, business) -> None:
    call = rows.call(business.id, transcript=[{"role": "caller", "text": "<b>book me</b>"}])
    rows.lead(business.id, name="Jane Roe")
    rows.lead(business.id, name="John Poe")
    log_in(client, business)
    assert f'href="/dashboard/calls/{call.id}"' in client.get("/dashboard/calls").text
    detail = client.get(f"/dashboard/calls/{call.id}").text
    assert "&lt;b&gt;book me&lt;/b&gt;" in detail  # escaped, never markup
    leads = client.get("/dashboard/leads", params={"q": "roe"}).text
    assert "Jane Roe" in leads and "John Poe" not in leads


def test_a_dead_job_is_retried_from_its_page(client, business) -> None:
    job_id = enqueue(actors.NOOP, business_id=business.id).job_id
    mark_dead(job_id, "RuntimeError: boom")
    csrf = log_in(client, business)
    page = client.get("/dashboard/jobs").text
    assert job_id in page and "boom" in page
    assert (
        client.post(f"/dashboard/jobs/{job_id}/retry", data={"csrf_token": "x"}).status_code == 403
    )
    done = client.post(f"/dashboard/jobs/{job_id}/retry", data={"csrf_token": csrf})
    assert done.status_code == 200 and "is queued again" in done.text
    assert get_job(business.id, job_id).status == "queued"


def test_another_business_s_call_and_job_are_404(client, business) -> None:
    other = make_business()
    call = rows.call(other.id)
    job_id = enqueue(actors.NOOP, business_id=other.id).job_id
    mark_dead(job_id, "boom")
    csrf = log_in(client, business)
    assert client.get(f"/dashboard/calls/{call.id}").status_code == 404
    assert (
        client.post(f"/dashboard/jobs/{job_id}/retry", data={"csrf_token": csrf}).status_code == 404
    )
    assert get_job(other.id, job_id).status == "dead"


def test_revoking_the_api_key_ends_its_dashboard_session(client, business) -> None:
    from sqlalchemy import update

    from switchboard.common.db import system_session
    from switchboard.common.db.base import utcnow
    from switchboard.common.models import ApiKey

    log_in(client, business)
    assert client.get("/dashboard/api/runs").status_code == 200
    with system_session() as session:
        session.execute(
            update(ApiKey).where(ApiKey.business_id == business.id).values(revoked_at=utcnow())
        )
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/dashboard/api/runs").status_code == 401


def test_logging_out_ends_the_session(client, business) -> None:
    csrf = log_in(client, business)
    client.post("/dashboard/logout", data={"csrf_token": csrf})
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_static_files_are_served_and_nothing_else(client) -> None:
    assert client.get("/dashboard/static/dashboard.js").status_code == 200
    assert client.get("/dashboard/static/..%2Fsession.py").status_code == 404


class _GetForms(HTMLParser):
    """The page's GET forms, each as the fields a browser submits untouched: every named
    input with its value, every select with its selected option (else its first)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._form: list[tuple[str, str]] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form" and a.get("method", "get").lower() == "get":
            self._form = []
            self.forms.append((a.get("action", ""), self._form))
        elif self._form is None:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("checkbox", "submit"):
            self._form.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._form is not None and self._select and self._options:
            chosen = [value for value, selected in self._options if selected]
            self._form.append((self._select, (chosen or [self._options[0][0]])[0]))
            self._select = None


def test_every_filter_form_submitted_as_it_is_shown_is_accepted(client, business) -> None:
    # "Both directions" on the calls page sent direction= and answered a 422 page.
    rows.call(business.id)
    log_in(client, business)
    pages = [href for href, _ in NAV] + ["/dashboard/runs/new"]
    submitted = 0
    for path in pages:
        parser = _GetForms()
        parser.feed(client.get(path).text)
        for action, fields in parser.forms:
            answer = client.get(action or path, params=fields)
            assert answer.status_code == 200, (path, fields, answer.text[-800:])
            submitted += 1
    assert submitted >= 5  # jobs, calls, conversations, leads, a new run's lead search


def test_a_right_to_left_override_in_a_text_is_closed_where_the_text_ends(client) -> None:
    # A run named "\u202eevil" reversed its page's title suffix and drew its status pill
    # inside its name: the override ran on to the end of the heading.
    business = make_business("\u202eAcme \u2067Dental")
    lead = rows.lead(business.id, name="\u2066Jane\u2069 \u202bRoe\u202c")
    run = runs.create_run(business.id, runs.NewRun(name="\u202eevil", lead_ids=[lead.id])).run
    log_in(client, business)
    page = client.get(f"/dashboard/runs/{run.id}").text
    assert "<title>Run \u202eevil\u202c · Switchboard</title>" in page
    assert "<h1>\u202eevil\u202c <span" in page
    assert '<span class="who">\u202eAcme \u2067Dental\u2069\u202c</span>' in page
    # Text that closes what it opens is written as it is.
    assert "\u2066Jane\u2069 \u202bRoe\u202c</label>" in client.get("/dashboard/runs/new").text
