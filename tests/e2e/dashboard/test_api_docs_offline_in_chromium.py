"""``/docs`` and ``/redoc`` in a real headless Chromium with the network cut to localhost:
every operation is listed, nothing was asked of another host, and the page logged no error
but ReDoc's logo, which the docs pages' Content-Security-Policy keeps from cdn.redoc.ly."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def console_errors(page) -> list[str]:
    """What the page logs as errors from now on."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


def offline(page) -> list[str]:
    """Abort every request for another host (as without internet); the list of those asked."""
    refused: list[str] = []

    def route(route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in {"data", "blob"} or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.context.route("**/*", route)
    return refused


def test_swagger_ui_lists_every_operation_offline(api_url: str, browser_page) -> None:
    page = browser_page
    refused, errors = offline(page), console_errors(page)
    operations = sum(
        len(ops) for ops in page.request.get(f"{api_url}/openapi.json").json()["paths"].values()
    )

    page.goto(f"{api_url}/docs")
    page.locator(".opblock-summary").nth(operations - 1).wait_for(timeout=15_000)

    assert page.locator(".opblock-summary").count() == operations
    assert page.locator(".opblock-summary-description", has_text="Create a lead").count() == 1
    assert (refused, errors) == ([], [])


def test_redoc_shows_the_operations_offline(api_url: str, browser_page) -> None:
    page = browser_page
    refused, errors = offline(page), console_errors(page)

    page.goto(f"{api_url}/redoc")
    page.get_by_role("heading", name="Create a lead").wait_for(timeout=15_000)

    assert page.get_by_role("heading", name="Cancel an outbound run").count() == 1
    assert refused == []
    assert all("Content Security Policy" in error and "logo" in error for error in errors), errors
