"""A console error as a person meets it in Chromium against a real API process: a link with a
bad value opens a page of the console saying what was wrong, and a live part whose poll is
refused shows the console's error in its place instead of freezing silently."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from switchboard.common.db import tenant_session
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.outbound import runs
from tests.e2e.dashboard.test_runs_calls_conversations_in_chromium import _log_in
from tests.support.factories import make_business
from tests.unit.api import rows

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 15_000


def test_a_bad_value_opens_a_console_page_that_names_it(browser_page, api_url) -> None:
    page = browser_page
    _log_in(page, api_url, make_business("Acme Dental"))

    answer = page.goto(f"{api_url}/dashboard/jobs?state=<b>lost</b>")

    assert answer is not None and answer.status == 422
    alert = page.locator(".console-error[role=alert]")
    assert "422 · Unprocessable" in alert.inner_text()
    assert alert.locator("[data-parameter=state] code.error-text").inner_text() == "<b>lost</b>"
    assert page.locator("nav >> text=Jobs").get_attribute("aria-current") == "page"
    page.click("text=Back to Jobs")
    page.wait_for_url(f"{api_url}/dashboard/jobs")


def test_a_refused_poll_shows_the_error_where_the_live_part_was(browser_page, api_url) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    lead = rows.lead(business.id, name="Jane Roe")
    run_id = runs.create_run(business.id, runs.NewRun(name="Spring", lead_ids=[lead.id])).run.id
    _log_in(page, api_url, business)
    page.goto(f"{api_url}/dashboard/runs/{run_id}")
    page.wait_for_selector("#run-live[hx-get]")  # a draft re-reads itself every 2 s

    with tenant_session(business.id) as session:  # gone under the page: its poll is a 404
        session.execute(delete(OutboundItem).where(OutboundItem.run_id == run_id))
        session.execute(delete(OutboundRun).where(OutboundRun.id == run_id))

    alert = page.wait_for_selector(".console-error[data-status='404']", timeout=TIMEOUT_MS)
    assert f"run {run_id} not found" in alert.inner_text()
    assert page.locator("#run-live").count() == 0  # replaced: no poll left to repeat the 404
    assert page.locator(".console-error").count() == 1 and page.locator("nav").count() == 1
