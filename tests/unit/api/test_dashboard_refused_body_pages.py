"""A console form refused before its route runs is a console page too: the body over its limit
(``api.body_limit``) and the missing login (``api.credentials_first``) are raised at the
route's first read of the body, so the app's handlers answer them, wrapped by
``dashboard.errors`` like every other console error; /api/v1 keeps its JSON."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus

import pytest
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.settings import Settings
from tests.support.factories import make_business
from tests.unit.api.test_dashboard_pages import log_in

BODY_LIMIT = 1_000
UPLOAD_LIMIT = 5_000
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
UPLOAD = {"Content-Type": "multipart/form-data; boundary=xyz"}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def limited(embedded: Settings) -> Iterator[TestClient]:
    limits = {"api_max_body_bytes": BODY_LIMIT, "api_max_upload_bytes": UPLOAD_LIMIT}
    with TestClient(create_app(embedded.model_copy(update=limits))) as client:
        yield client


def _chunks(size: int) -> Iterator[bytes]:
    """A body sent in chunks, without a length: counted as it is read."""
    for _ in range(size // 500 + 1):
        yield b"x" * 500


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        ("/dashboard/jobs/bulk", FORM, BODY_LIMIT),
        ("/dashboard/runs/csv", UPLOAD, UPLOAD_LIMIT),
    ],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_console_form_over_its_limit_is_a_413_console_page(
    limited: TestClient, path: str, headers: dict[str, str], limit: int, chunked: bool
) -> None:
    log_in(limited, make_business("Acme Dental"))
    body = _chunks(limit * 2) if chunked else b"x" * (limit * 2)

    answer = limited.post(path, content=body, headers=headers)

    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert html.lstrip().startswith("<!doctype html>") and "Acme Dental" in html  # the layout
    assert f"<h1>413 · {HTTPStatus(413).phrase}" in html
    assert f"request body larger than {limit} bytes" in html
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_an_htmx_form_over_its_limit_gets_the_fragment(limited: TestClient) -> None:
    log_in(limited, make_business())

    answer = limited.post("/dashboard/jobs/bulk", content=b"x" * 2_000, headers={**FORM, **HTMX})

    assert answer.status_code == 413
    assert answer.text.lstrip().startswith('<section class="card console-error"')
    assert answer.headers["hx-reswap"] == "outerHTML"
    assert answer.headers["hx-reselect"] == ".console-error"


def test_the_login_form_over_its_limit_is_a_page_without_a_business(limited: TestClient) -> None:
    answer = limited.post("/dashboard/login", content=b"x" * 2_000, headers=FORM)

    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert "<nav>" not in answer.text and "request body larger than 1000 bytes" in answer.text


def test_a_console_form_without_a_login_is_the_redirect_and_the_api_keeps_its_json(
    limited: TestClient,
) -> None:
    redirected = limited.post(
        "/dashboard/jobs/bulk", content=b"x" * 2_000, headers=FORM, follow_redirects=False
    )
    assert redirected.status_code == 303  # not a 413: the login comes first
    assert redirected.headers["location"] == "/dashboard/login"

    refused = limited.post("/api/v1/leads", content=b"x" * 2_000, headers=FORM)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    key = {"Authorization": f"Bearer {make_business().api_key}"}
    too_large = limited.post("/api/v1/leads", content=b"x" * 2_000, headers={**FORM, **key})
    assert too_large.status_code == 413
    assert too_large.headers["content-type"] == "application/json"
    assert too_large.json() == {
        "code": "payload_too_large",
        "detail": "request body larger than 1000 bytes",
    }
