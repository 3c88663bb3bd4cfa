"""The operator console in a real headless Chromium against a real API process: the overview's
charts drawn from the ledger and updated live, the jobs filter, a job's detail, a bulk retry,
the queues and the workers.

The ledger rows are written from the test as the worker would leave them (``ledger_rows``), so
the browser and the API are what is under test. With ``SCREENSHOTS=1`` each page is saved to
``docs/screenshots/console-*.png`` (``docs/console.md`` shows them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from switchboard.common.jobs.service import get_job
from tests.support import actors
from tests.support.factories import make_business
from tests.support.ledger_rows import heartbeat, job_in, running_on

pytestmark = pytest.mark.e2e
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def snapshot(page, name: str) -> None:
    """Save the page as ``docs/screenshots/console-<name>.png`` when SCREENSHOTS=1."""
    if os.environ.get("SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")


@contextmanager
def beating(worker: str, queues: str) -> Iterator[None]:
    """``worker`` beats every half second, as a live worker process would."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            heartbeat(worker, queues=queues)
            stop.wait(0.5)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def a_busy_hour(business_id: int) -> dict[str, list[str]]:
    """An hour of jobs: mostly succeeded, some failed, three dead, spread over the minutes."""
    jobs: dict[str, list[str]] = {"succeeded": [], "failed": [], "dead": []}
    for minute in range(1, 50, 3):
        for _ in range(1 + minute % 4):
            jobs["succeeded"].append(
                job_in(business_id, "succeeded", ago_s=minute * 60, waited_s=0.2 + minute % 5)
            )
    for minute in (7, 22, 41):
        jobs["failed"].append(job_in(business_id, "failed", ago_s=minute * 60, waited_s=3))
    for minute, error in (
        (12, "TwilioRetryableError: 503 from the messaging API"),
        (30, "TimeoutError: the CRM did not answer in 10 s"),
        (3, "TwilioRetryableError: 503 from the messaging API"),
    ):
        dead = job_in(
            business_id,
            "dead",
            ago_s=minute * 60,
            waited_s=6,
            spec=actors.RECORD_LEAD,
            phone="+15557654321",
            error=error,
        )
        jobs["dead"].append(dead)
    return jobs


def test_an_operator_watches_the_overview_finds_dead_jobs_and_retries_them(
    browser_page, api_url
) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    jobs = a_busy_hour(business.id)
    heartbeat("worker-1:4242", queues="leads,messages,test_jobs")
    heartbeat("worker-2:4243", queues="calls,recordings")
    running = running_on(business.id, "worker-1:4242")
    finished = sum(len(ids) for ids in jobs.values())
    # A script refused by the CSP, or one that throws, says so on the console; a file that
    # fails to load (the favicon included) shows as a failed response.
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))

    page.goto(f"{api_url}/dashboard")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")

    # The overview's charts are drawn from the ledger ...
    page.wait_for_selector(f'#jobs-chart[data-total="{finished}"] canvas')
    page.wait_for_selector("#latency-chart canvas")
    assert page.inner_text("#jobs-dead") == "3"
    snapshot(page, "overview")
    # ... and follow it: a job that dies now shows up without a reload.
    jobs["dead"].append(job_in(business.id, "dead", ago_s=1, error="RuntimeError: boom"))
    page.wait_for_selector('#jobs-dead:text-is("4")', timeout=10_000)
    page.wait_for_selector(f'#jobs-chart[data-total="{finished + 1}"]')

    # The jobs page, filtered by state, then by actor.
    page.click("nav >> text=Jobs")
    page.wait_for_url(f"{api_url}/dashboard/jobs")
    page.select_option("#state", "dead")
    page.click("#job-filter button")
    page.wait_for_url("**/dashboard/jobs?state=dead*")
    assert page.locator("tr[data-job]").count() == 4
    assert page.locator('tr[data-job]:not([data-state="dead"])').count() == 0
    page.fill("#actor", actors.RECORD_LEAD.name)
    page.click("#job-filter button")
    page.wait_for_url(f"**/dashboard/jobs?state=dead&actor={actors.RECORD_LEAD.name}")
    assert page.locator("tr[data-job]").count() == 3
    snapshot(page, "jobs")

    # One dead job's detail: masked arguments, its error, its timeline.
    first, second, third = jobs["dead"][:3]
    page.click(f'tr[data-job="{first}"] td:nth-child(2) a')
    page.wait_for_url(f"{api_url}/dashboard/jobs/{first}")
    assert "503 from the messaging API" in page.inner_text("#last-error")
    assert "+15557654321" not in page.inner_text("#arguments")
    steps = page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.step)")
    assert steps == ["enqueued", "started", "dead"]
    snapshot(page, "job")

    # Two dead jobs ticked and retried in one go.
    page.go_back()
    page.wait_for_selector(f'tr[data-job="{first}"]')
    page.check(f'tr[data-job="{first}"] input[name=job_id]')
    page.check(f'tr[data-job="{second}"] input[name=job_id]')
    page.click('button[data-bulk="retry"]')
    page.wait_for_selector("text=2 jobs queued again")
    assert page.locator("tr[data-job]").count() == 1  # only the third is still dead
    assert [get_job(business.id, j).status for j in (first, second, third)] == [
        "queued",
        "queued",
        "dead",
    ]
    page.goto(f"{api_url}/dashboard/jobs?state=queued")
    assert page.locator(f'tr[data-job="{first}"], tr[data-job="{second}"]').count() == 2

    # The queues: the two retried jobs wait in theirs.
    page.click("nav >> text=Queues")
    page.wait_for_url(f"{api_url}/dashboard/queues")
    queue = actors.RECORD_LEAD.queue
    assert page.inner_text(f'tr[data-queue="{queue}"] [data-depth]') == "2"
    snapshot(page, "queues")

    # The workers, from their heartbeats, with the job of this business each one runs.
    with beating("worker-1:4242", queues="leads,messages,test_jobs"):
        page.click("nav >> text=Workers")
        page.wait_for_url(f"{api_url}/dashboard/workers")
        worker = page.locator('[data-worker="worker-1:4242"]')
        assert worker.locator("[data-alive]").count() == 1
        assert running in worker.inner_text()
        stale = page.locator('[data-worker="worker-2:4243"]')  # silent since the test began
        assert stale.locator("[data-alive]").count() == 0
        snapshot(page, "workers")
    assert errors == []
