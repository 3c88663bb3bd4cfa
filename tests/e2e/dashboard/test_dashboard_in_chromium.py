"""The dashboard in a real headless Chromium against a real API process.

The outbound run's progress is driven from the test by moving its ``outbound_items`` through
the states the run engine writes (and refreshing the heartbeat), so the browser is what is
under test: the bar must advance with the items and disappear once the run ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.service import get_job
from switchboard.worker.runtime.ledger import mark_dead
from tests.support import actors
from tests.support.factories import make_business
from tests.unit.api import rows

pytestmark = pytest.mark.e2e
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "dashboard.png"


def _bar_value(page, run_id: int) -> int:
    return int(page.get_attribute(f'[data-run="{run_id}"] [role=progressbar]', "aria-valuenow"))


def test_log_in_watch_a_run_progress_and_retry_a_dead_job(browser_page, api_url) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    for name in ("Jane Roe", "Ali Khan", "Mia Chen"):
        rows.lead(business.id, name=name, intent="book a check-up")
    rows.call(business.id)
    rows.live_call(business.id)
    run = rows.running_run(business.id, items=4)
    dead = enqueue(actors.NOOP, business_id=business.id).job_id
    mark_dead(dead, "TwilioRetryableError: 503 from the messaging API")

    page.goto(f"{api_url}/dashboard")
    assert page.url.endswith("/dashboard/login")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")
    assert "Acme Dental" in page.inner_text("header")

    bar = f'[data-run="{run.id}"] [role=progressbar]'
    page.wait_for_selector(bar)
    assert _bar_value(page, run.id) == 0
    rows.advance_run(business.id, run.id, done=1, dialing=2)
    page.wait_for_selector(f'{bar}[aria-valuenow="25"]')
    rows.advance_run(business.id, run.id, done=3, dialing=1)
    page.wait_for_selector(f'{bar}[aria-valuenow="75"]')
    assert "3 completed" in page.inner_text(f'[data-run="{run.id}"]')
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True, animations="disabled")

    rows.advance_run(business.id, run.id, done=4, dialing=0)
    rows.finish_run(business.id, run.id)
    page.wait_for_selector(f'[data-run="{run.id}"]', state="detached")
    assert page.is_visible("[data-empty]")

    page.goto(f"{api_url}/dashboard/jobs?state=dead")
    assert "503 from the messaging API" in page.inner_text(f'[data-job="{dead}"]')
    page.click(f'[data-job="{dead}"] button')
    page.wait_for_selector("text=is queued again")
    assert get_job(business.id, dead).status == "queued"
    assert page.query_selector(f'[data-job="{dead}"]') is None
