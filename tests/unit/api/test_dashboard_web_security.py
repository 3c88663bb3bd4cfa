"""The console as an attacker meets it: every state-changing form refuses a forged CSRF token,
every answer under /dashboard carries the security headers (not only the pages), and the
session cookie is ``Secure`` wherever the console is reached over https."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.jobs.service import get_job
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from switchboard.domain.outbound import runs
from tests.support.environment import configured
from tests.support.factories import TestBusiness, make_business
from tests.support.ledger_rows import job_in
from tests.unit.api import rows
from tests.unit.api.test_dashboard_pages import _csrf, log_in

FORGED = "forged-token"


@pytest.fixture
def business(embedded: Settings) -> TestBusiness:
    return make_business("Acme Dental")


def _post_forms(business: TestBusiness) -> dict[str, tuple[str, dict, dict]]:
    """Each console POST route: a URL, a form valid but for its forged token, and files."""
    dead = job_in(business.id, "dead")
    lead = rows.lead(business.id, name="Jane Roe")
    draft = runs.create_run(business.id, runs.NewRun(name="Spring", lead_ids=[lead.id])).run.id
    csv = {"file": ("leads.csv", b"phone\n+15550001111\n", "text/csv")}
    token = {"csrf_token": FORGED}
    return {
        "/dashboard/login": ("/dashboard/login", {**token, "api_key": business.api_key}, {}),
        "/dashboard/logout": ("/dashboard/logout", token, {}),
        "/dashboard/jobs/bulk": (
            "/dashboard/jobs/bulk",
            {**token, "action": "retry", "job_id": [dead]},
            {},
        ),
        "/dashboard/jobs/{job_id}/{action}": (f"/dashboard/jobs/{dead}/retry", token, {}),
        "/dashboard/runs": ("/dashboard/runs", {**token, "name": "X", "lead_ids": [lead.id]}, {}),
        "/dashboard/runs/csv": ("/dashboard/runs/csv", {**token, "name": "X"}, csv),
        "/dashboard/runs/{run_id}/start": (f"/dashboard/runs/{draft}/start", token, {}),
        "/dashboard/runs/{run_id}/cancel": (f"/dashboard/runs/{draft}/cancel", token, {}),
        "/dashboard/erasures": ("/dashboard/erasures", {**token, "phone": lead.phone}, {}),
    }


def _routes(routes: list) -> Iterator[APIRoute]:
    """Every API route of the app, in the routers it includes too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)


def test_every_console_form_refuses_a_forged_csrf_token_and_changes_nothing(
    client, business
) -> None:
    forms = _post_forms(business)
    posted = {
        route.path
        for route in _routes(client.app.routes)
        if route.path.startswith("/dashboard") and route.methods - {"GET", "HEAD"}
    }
    assert posted == set(forms), "a new console form needs its row here (and a CSRF check)"
    log_in(client, business)
    for path, data, files in forms.values():
        response = client.post(path, data=data, files=files or None, follow_redirects=False)
        assert response.status_code == 403, (path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("text/html")  # a console page
        assert "invalid or missing CSRF token" in response.text
    assert client.get("/dashboard", follow_redirects=False).status_code == 200  # not logged out
    html = client.get("/dashboard/runs").text
    assert html.count("data-history-run=") == 1 and ">draft<" in html  # not started, no new run
    dead = forms["/dashboard/jobs/bulk"][1]["job_id"][0]
    assert get_job(business.id, dead).status == "dead"  # not retried
    assert 'data-erasure="' not in client.get("/dashboard/erasures").text  # none requested


def _has_security_headers(response) -> bool:
    headers = response.headers
    return (
        "frame-ancestors 'none'" in headers.get("content-security-policy", "")
        and "base-uri 'none'" in headers["content-security-policy"]
        and headers.get("x-frame-options") == "DENY"
        and headers.get("x-content-type-options") == "nosniff"
        and headers.get("referrer-policy") == "no-referrer"
    )


def test_every_console_answer_carries_the_security_headers_not_only_pages(
    client, business, embedded: Settings
) -> None:
    call = rows.call(business.id)
    make_recording_storage(embedded).put(f"{business.id}/{call.call_sid}.wav", b"RIFF audio")
    recording = rows.recording(business.id, call, storage_key=f"{business.id}/{call.call_sid}.wav")
    audio = f"/dashboard/calls/{call.id}/recordings/{recording.id}/audio"
    answers = {"login page": client.get("/dashboard/login")}
    token = _csrf(answers["login page"].text)
    answers["forged login (403)"] = client.post(
        "/dashboard/login", data={"api_key": "sbk_x", "csrf_token": "x"}
    )
    answers["login's redirect, setting the cookie"] = client.post(
        "/dashboard/login",
        data={"api_key": business.api_key, "csrf_token": token},
        follow_redirects=False,
    )
    answers["overview"] = client.get("/dashboard")
    answers["overview poll"] = client.get("/dashboard", headers={"HX-Request": "true"})
    answers["unknown job (404)"] = client.get("/dashboard/jobs/nope")
    answers["bad run id (422)"] = client.get("/dashboard/runs/abc")
    answers["runs JSON"] = client.get("/dashboard/api/runs")
    answers["recording"] = client.get(audio)
    answers["recording's range (206)"] = client.get(audio, headers={"Range": "bytes=0-3"})
    answers["recording's range past its end (416)"] = client.get(
        audio, headers={"Range": "bytes=999-"}
    )
    answers["unknown console path"] = client.get("/dashboard/nothing-here")
    answers["script"] = client.get("/dashboard/static/dashboard.js")
    for what, response in answers.items():
        assert _has_security_headers(response), (what, response.status_code, response.headers)
    private = [what for what in answers if what != "script"]
    for what in private:
        assert answers[what].headers["cache-control"] == "no-store", what
    assert answers["script"].headers["cache-control"] == "public, max-age=300"  # kept
    assert client.get("/dashboard", follow_redirects=False).status_code == 200


def _session_cookie(response) -> str:
    return next(value for name, value in response.headers.items() if name == "set-cookie").lower()


def test_the_cookie_is_not_secure_on_plain_http_in_development(client) -> None:
    cookie = _session_cookie(client.get("/dashboard/login"))
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie


def test_the_cookie_is_secure_when_the_console_is_reached_over_https(embedded, business) -> None:
    with TestClient(create_app(embedded), base_url="https://testserver") as client:
        cookie = _session_cookie(client.get("/dashboard/login"))
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        log_in(client, business)  # and comes back over https


@pytest.fixture
def behind_https(tmp_path: Path) -> Iterator[Settings]:
    """Development settings whose public API address (the console's) is https, as behind a
    TLS-terminating proxy that forwards plain http."""
    with configured(
        database_url="",
        amqp_url="",
        var_dir=str(tmp_path / "var"),
        api_public_base_url="https://api.switchboard.example.org",
    ) as settings:
        worker_startup_migrations()
        yield settings


def test_the_cookie_is_secure_when_the_public_api_address_is_https(behind_https) -> None:
    with TestClient(create_app(behind_https)) as client:
        cookie = _session_cookie(client.get("/dashboard/login"))
    assert "secure" in cookie and "httponly" in cookie


def test_login_has_no_next_parameter_to_send_a_browser_elsewhere(client, business) -> None:
    page = client.get("/dashboard/login?next=https://evil.example/")
    response = client.post(
        "/dashboard/login?next=https://evil.example/",
        data={"api_key": business.api_key, "csrf_token": _csrf(page.text), "next": "//evil"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/dashboard/jobs",
        "//evil.example/dashboard/jobs",
        "/dashboard/jobs//evil.example",
        "/\\evil.example/dashboard/jobs",
        "javascript:alert(1)//dashboard/jobs",
        "/dashboard/jobs\r\nSet-Cookie: x=1",
        "/dashboard/jobs/../../x",
        "/dashboard/jobs/%2e%2e/%2E%2E/x",
        "/dashboard/jobs\\..\\..\\x",
    ],
)
def test_a_job_form_s_back_stays_on_the_console(client, business, back: str) -> None:
    dead = job_in(business.id, "dead")
    csrf = log_in(client, business)
    response = client.post(
        f"/dashboard/jobs/{dead}/retry",
        data={"csrf_token": csrf, "back": back},
        follow_redirects=False,
    )
    location = response.headers["location"]
    assert response.status_code == 303 and location.startswith("/dashboard/jobs")
    assert "\n" not in location and "\r" not in location and "//" not in location
    # As a browser resolves it (percent-encoded dots, backslashes for slashes): still there.
    path = unquote(location.split("?")[0]).replace("\\", "/")
    assert posixpath.normpath(path).startswith("/dashboard/jobs")
    assert "x=1" not in response.headers.get("set-cookie", "")  # no header was injected


def test_logout_ends_the_session_and_a_replayed_cookie_opens_nothing(client, business) -> None:
    csrf = log_in(client, business)
    old = client.cookies.get("sb_dashboard")
    client.post("/dashboard/logout", data={"csrf_token": csrf})
    client.cookies.clear()
    client.cookies.set("sb_dashboard", old, path="/dashboard")
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_logging_in_issues_a_new_session_not_the_pre_login_one(client, business) -> None:
    client.get("/dashboard/login")
    before = client.cookies.get("sb_dashboard")
    before_csrf = _csrf(client.get("/dashboard/login").text)
    after_csrf = log_in(client, business)
    assert client.cookies.get("sb_dashboard") != before and after_csrf != before_csrf


def test_logging_in_again_ends_the_session_the_cookie_held(client, business) -> None:
    # Logged in as A, then as B in the same browser: A's session outlived the cookie that
    # held it (12 h), and no logout could reach it any more.
    log_in(client, business)
    first = client.cookies.get("sb_dashboard")
    other = make_business("Other Dental")
    log_in(client, other)
    assert "Other Dental" in client.get("/dashboard").text
    replay = TestClient(client.app)
    replay.cookies.set("sb_dashboard", first, path="/dashboard")
    assert replay.get("/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
