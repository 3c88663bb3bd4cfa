"""The dashboard in a real headless Chromium loads its icon: no 404 in the browser console."""

from __future__ import annotations

from tests.support.factories import make_business


def test_the_dashboard_loads_without_a_failed_request_not_even_the_icon(
    browser_page, api_url
) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.on("console", lambda m: m.type == "error" and failed.append(m.text))
    icons: list[str] = []
    page.on("requestfinished", lambda r: "favicon" in r.url and icons.append(r.url))

    page.goto(f"{api_url}/dashboard")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")
    page.wait_for_load_state("networkidle")

    assert failed == []
    assert f"{api_url}/dashboard/static/favicon.svg" in icons
