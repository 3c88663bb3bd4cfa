"""The operator console's overview, queues, workers and jobs pages, through the real app on
SQLite: the figures come from the job ledger, every page sees one business only, and actions
need the session's CSRF token."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.service import JobNotFoundError, get_job
from switchboard.common.settings import Settings
from switchboard.domain.operations import job_series, queue_rows, worker_rows
from switchboard.worker.runtime.ledger import mark_dead
from tests.support import actors
from tests.support.factories import TestBusiness, make_business
from tests.support.ledger_rows import heartbeat, job_in, running_on
from tests.unit.api.test_dashboard_pages import log_in


@pytest.fixture
def business(embedded: Settings) -> TestBusiness:
    return make_business("Acme Dental")


def series_in(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="overview-series">(.*?)</script>', html)
    assert match, html
    return json.loads(match.group(1))


def test_the_series_count_jobs_per_minute_by_outcome_and_their_queue_latency(business) -> None:
    for status in ("succeeded", "succeeded", "failed", "dead"):
        job_in(business.id, status, ago_s=90, waited_s=4)
    job_in(business.id, "succeeded", ago_s=2 * 3600)  # outside the hour
    job_in(make_business().id, "dead", ago_s=90)  # another business's

    series = job_series(business.id)

    assert len(series.minutes) == 60 and series.minutes[-1] % 60 == 0
    assert {name: sum(counts) for name, counts in series.finished.items()} == {
        "succeeded": 2,
        "failed": 1,
        "dead": 1,
    }
    waits = [w for w in series.latency_avg_s if w is not None]
    assert waits and all(3.9 <= w <= 4.1 for w in waits)
    assert series.total_finished == 4


def test_the_overview_renders_the_chart_series_and_its_poll_gets_the_fragment(
    client, business
) -> None:
    job_in(business.id, "succeeded")
    job_in(business.id, "dead")
    log_in(client, business)

    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "/dashboard/static/vendor/uPlot-1.6.32.iife.min.js" in page.text
    assert sum(sum(c) for c in series_in(page.text)["finished"].values()) == 2

    poll = client.get("/dashboard", headers={"HX-Request": "true"})
    assert poll.text.lstrip().startswith('<div id="overview-live"') and "<html" not in poll.text


def test_a_poll_after_logout_tells_htmx_to_load_the_login_page(client, business) -> None:
    response = client.get("/dashboard/queues", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/dashboard/login"


def test_queues_show_depth_oldest_age_and_the_rate_of_the_last_five_minutes(business) -> None:
    enqueue(actors.NOOP, business_id=business.id)
    enqueue(actors.NOOP, business_id=business.id)
    for _ in range(5):
        job_in(business.id, "succeeded", ago_s=30)
    job_in(business.id, "dead", ago_s=30)
    job_in(business.id, "succeeded", ago_s=600)  # before the rate's window

    rows = {row.queue: row for row in queue_rows(business.id)}

    test_jobs = rows["test_jobs"]
    assert (test_jobs.depth, test_jobs.rate_per_min, test_jobs.failed) == (2, 1.2, 1)
    assert test_jobs.oldest_age_s is not None and test_jobs.oldest_age_s < 60
    assert rows["leads"].depth == 0  # the catalog's queues are listed, idle or not


def test_workers_come_from_heartbeats_with_only_this_business_s_jobs(client, business) -> None:
    heartbeat("host-a:101")
    heartbeat("host-b:202", age_s=120)  # silent for two minutes: stale
    mine = running_on(business.id, "host-a:101")
    theirs = running_on(make_business().id, "host-a:101")

    rows = {row.id: row for row in worker_rows(business.id)}
    assert rows["host-a:101"].alive and [job.id for job in rows["host-a:101"].jobs] == [mine]
    assert not rows["host-b:202"].alive

    log_in(client, business)
    html = client.get("/dashboard/workers").text
    assert 'data-worker="host-a:101"' in html and mine in html and theirs not in html
    assert "12 (8 for jobs)" in html


def test_jobs_are_filtered_by_state_and_actor(client, business) -> None:
    dead = job_in(business.id, "dead")
    done = job_in(business.id, "succeeded")
    log_in(client, business)

    only_dead = client.get("/dashboard/jobs", params={"state": "dead"}).text
    assert dead in only_dead and done not in only_dead
    by_actor = client.get("/dashboard/jobs", params={"actor": actors.NOOP.name}).text
    assert dead in by_actor and done in by_actor
    assert done not in client.get("/dashboard/jobs", params={"actor": "other_job"}).text
    assert client.get("/dashboard/jobs", params={"state": "lost"}).status_code == 422


def test_a_job_s_page_shows_masked_arguments_its_error_and_timeline(client, business) -> None:
    job_id = enqueue(actors.RECORD_LEAD, business_id=business.id, phone="+15551234567").job_id
    mark_dead(job_id, "RuntimeError: the CRM said no")
    log_in(client, business)

    html = client.get(f"/dashboard/jobs/{job_id}").text

    assert "+15551234567" not in html and "4567" in html  # the phone keeps its last 4 digits
    assert "the CRM said no" in html
    assert 'data-step="enqueued"' in html and 'data-step="dead"' in html
    assert client.get("/dashboard/jobs/not-a-job").status_code == 404


def test_bulk_retry_queues_the_ticked_dead_jobs_and_refuses_the_rest(client, business) -> None:
    first, second = job_in(business.id, "dead"), job_in(business.id, "dead")
    finished = job_in(business.id, "succeeded")
    csrf = log_in(client, business)
    form = {"csrf_token": csrf, "action": "retry", "job_id": [first, second, finished]}

    assert client.post("/dashboard/jobs/bulk", data={**form, "csrf_token": "x"}).status_code == 403
    done = client.post("/dashboard/jobs/bulk", data={**form, "back": "/dashboard/jobs?state=dead"})

    assert done.status_code == 200 and "2 jobs queued again; 1 refused" in done.text
    assert done.url.path == "/dashboard/jobs" and done.url.params["state"] == "dead"
    assert [get_job(business.id, j).status for j in (first, second)] == ["queued", "queued"]
    assert get_job(business.id, finished).status == "succeeded"


def test_a_dashboard_bulk_action_on_a_job_id_with_a_nul_is_a_422(client, business) -> None:
    # PostgreSQL cannot take a NUL in a text parameter: it was a 500 there, 303 on SQLite.
    dead = job_in(business.id, "dead")
    csrf = log_in(client, business)
    form = {"csrf_token": csrf, "action": "retry", "job_id": [dead, "a\x00b"]}

    refused = client.post("/dashboard/jobs/bulk", data=form, follow_redirects=False)

    assert refused.status_code == 422, refused.text
    assert '<tr data-parameter="job_id">' in refused.text and "NUL" in refused.text
    assert get_job(business.id, dead).status == "dead"


def test_cancel_and_discard_one_job(client, business) -> None:
    queued = enqueue(actors.NOOP, business_id=business.id).job_id
    dead = job_in(business.id, "dead")
    csrf = log_in(client, business)

    cancelled = client.post(f"/dashboard/jobs/{queued}/cancel", data={"csrf_token": csrf})
    assert "is cancelled" in cancelled.text and get_job(business.id, queued).status == "cancelled"
    back = f"/dashboard/jobs/{dead}"
    client.post(f"/dashboard/jobs/{dead}/discard", data={"csrf_token": csrf, "back": back})
    with pytest.raises(JobNotFoundError):
        get_job(business.id, dead)
    again = client.post(f"/dashboard/jobs/{queued}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409


def test_another_business_s_jobs_are_neither_shown_nor_touched(client, business) -> None:
    other = make_business()
    theirs = job_in(other.id, "dead")
    csrf = log_in(client, business)

    assert client.get(f"/dashboard/jobs/{theirs}").status_code == 404
    assert theirs not in client.get("/dashboard/jobs").text
    bulk = {"csrf_token": csrf, "action": "discard", "job_id": [theirs]}
    assert "0 jobs discarded; 1 refused" in client.post("/dashboard/jobs/bulk", data=bulk).text
    assert get_job(other.id, theirs).status == "dead"


def test_a_form_cannot_send_the_browser_elsewhere(client, business) -> None:
    dead = job_in(business.id, "dead")
    csrf = log_in(client, business)
    response = client.post(
        f"/dashboard/jobs/{dead}/retry",
        data={"csrf_token": csrf, "back": "https://evil.example/dashboard/jobs"},
        follow_redirects=False,
    )
    assert response.headers["location"].startswith("/dashboard/jobs?")


def test_the_vendored_assets_are_served_from_here(client) -> None:
    for name in ("htmx-2.0.11.min.js", "uPlot-1.6.32.iife.min.js", "uPlot-1.6.32.min.css"):
        response = client.get(f"/dashboard/static/vendor/{name}")
        assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert client.get("/dashboard/static/vendor/README.md").status_code == 404


def test_the_jobs_notice_names_only_one_of_the_business_s_jobs(client, business) -> None:
    """The notice's job id comes from the query, anyone's to write: a link's
    ``?done=cancel&job=<any 36 characters>`` was shown as a job the console had cancelled."""
    own = job_in(business.id, "dead")
    others = job_in(make_business().id, "dead")
    log_in(client, business)

    def notice(job: str, done: str = "cancel") -> str:
        page = client.get("/dashboard/jobs", params={"done": done, "job": job})
        assert page.status_code == 200
        return re.search(r'<p class="notice" role="status">(.*?)</p>', page.text).group(1)

    said = "cancelled (a running job is asked to stop)"
    assert notice(own) == f"Job <code>{own}</code> is {said}."
    forged = "Your account is suspended: call +155"  # 36 characters, no id
    for job in (forged, others, own.upper(), str(uuid.uuid4())):
        assert notice(job) == f"The job is {said}.", job
    client.post(f"/dashboard/jobs/{own}/discard", data={"csrf_token": log_in(client, business)})
    assert notice(own, "discard") == "The job is discarded."  # gone: nothing to name
