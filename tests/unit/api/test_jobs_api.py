from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import update

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.enqueue import enqueue_unique
from switchboard.common.models.jobs import Job
from switchboard.worker.runtime.inprocess import start_worker
from tests.support import actors
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.api.test_dashboard_pages import log_in


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_jobs_are_listed_newest_first_with_a_cursor(client) -> None:
    business = make_business()
    ids = [enqueue(actors.NOOP, business_id=business.id).job_id for _ in range(5)]
    first = client.get("/api/v1/jobs", params={"limit": 3}, headers=auth(business.api_key)).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = client.get(
        "/api/v1/jobs",
        params={"limit": 3, "cursor": first["next_cursor"]},
        headers=auth(business.api_key),
    ).json()
    assert rest["next_cursor"] is None
    seen = [job["id"] for job in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 5


def test_jobs_filter_by_status_and_never_show_another_business(client) -> None:
    owner, other = make_business(), make_business()
    job_id = enqueue(actors.NOOP, business_id=owner.id).job_id
    queued = client.get(
        "/api/v1/jobs", params={"status": "queued"}, headers=auth(owner.api_key)
    ).json()
    assert [job["id"] for job in queued["items"]] == [job_id]
    assert (
        client.get("/api/v1/jobs", params={"status": "dead"}, headers=auth(owner.api_key)).json()[
            "items"
        ]
        == []
    )
    assert client.get("/api/v1/jobs", headers=auth(other.api_key)).json()["items"] == []
    assert client.get(f"/api/v1/jobs/{job_id}", headers=auth(other.api_key)).status_code == 404
    assert (
        client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(other.api_key)).status_code == 404
    )


def test_jobs_filter_by_actor_with_status_and_never_show_another_business(client) -> None:
    """An operator recovering one broken integration's dead jobs lists that actor's only
    (before, ``actor`` was ignored and every job came back)."""
    owner, other = make_business(), make_business()
    noop = enqueue(actors.NOOP, business_id=owner.id).job_id
    counted = enqueue(actors.COUNT_RUNS, business_id=owner.id, marker="unused").job_id
    enqueue(actors.NOOP, business_id=other.id)

    def listed(key: str, **params: str) -> list[str]:
        response = client.get("/api/v1/jobs", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        return [job["id"] for job in response.json()["items"]]

    assert listed(owner.api_key, actor=actors.NOOP.name) == [noop]
    assert listed(owner.api_key, actor=actors.COUNT_RUNS.name, status="queued") == [counted]
    assert listed(owner.api_key, actor=actors.COUNT_RUNS.name, status="dead") == []
    assert listed(owner.api_key, actor="no_such_job") == []
    assert listed(other.api_key, actor=actors.COUNT_RUNS.name) == []
    for bad in ("", "a" * 101, "noop\x00"):
        response = client.get("/api/v1/jobs", params={"actor": bad}, headers=auth(owner.api_key))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][:2] == ["query", "actor"]


def test_a_bad_status_or_cursor_is_a_422_naming_it(client) -> None:
    business = make_business()
    bad_status = client.get(
        "/api/v1/jobs", params={"status": "exploded"}, headers=auth(business.api_key)
    )
    assert bad_status.status_code == 422 and bad_status.json()["detail"][0]["loc"] == [
        "query",
        "status",
    ]
    bad_cursor = client.get(
        "/api/v1/jobs", params={"cursor": "garbage"}, headers=auth(business.api_key)
    )
    assert bad_cursor.status_code == 422 and bad_cursor.json()["detail"][0]["loc"] == [
        "query",
        "cursor",
    ]


def test_cancel_a_queued_job_then_a_second_cancel_is_409(client) -> None:
    business = make_business()
    job_id = enqueue(actors.NOOP, business_id=business.id).job_id
    cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(business.api_key))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_requested"] is False
    again = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(business.api_key))
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancelling_a_running_job_is_202_and_it_says_cancelled_once_it_stopped(
    client, tmp_path: Path
) -> None:
    business = make_business()
    log = tmp_path / "gated.log"
    actors.register()
    worker = start_worker(get_broker(), threads=1, worker_timeout_ms=50)
    try:
        job_id = enqueue(actors.GATED, business_id=business.id, log=str(log)).job_id
        wait_for(lambda: log.exists(), what="the job to start")
        asked = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(business.api_key))
        assert asked.status_code == 202, asked.text
        assert (asked.json()["status"], asked.json()["cancel_requested"]) == ("running", True)
        shown = client.get(f"/api/v1/jobs/{job_id}", headers=auth(business.api_key)).json()
        assert (shown["status"], shown["cancel_requested"]) == ("running", True)
        Path(f"{log}.gate").touch()

        def status() -> str:
            response = client.get(f"/api/v1/jobs/{job_id}", headers=auth(business.api_key))
            return str(response.json()["status"])

        wait_for(lambda: status() == "cancelled", what="the job to stop")
        assert log.read_text().split() == ["started"]
    finally:
        worker.stop()


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


#: Cursors this API never writes: a lone surrogate (QA's 500), a NUL, JSON spaced or escaped
#: otherwise than ``json.dumps``, a time in another form than ``isoformat``, padding.
FOREIGN_CURSORS = [
    _cursor('["2026-01-01T00:00:00","\\ud800"]'),
    _cursor('["2026-01-01T00:00:00", "\\ud800"]'),
    _cursor('["2026-01-01T00:00:00", "\\udfff-job"]'),
    _cursor('["2026-01-01T00:00:00", "a\\u0000b"]'),
    _cursor('["2026-01-01T00:00:00","job"]'),
    _cursor('["2026-01-01T00:00:00Z", "job"]'),
    _cursor('["2026-01-01", "job"]'),
    _cursor('["2026-01-01T00:00:00", "\\u006aob"]'),
    _cursor('["2026-01-01T00:00:00", "job"]') + "==",
]


def test_a_cursor_this_api_did_not_write_is_a_422_on_jobs_and_the_dashboard(client) -> None:

    business = make_business()
    log_in(client, business)
    for cursor in FOREIGN_CURSORS:
        listed = client.get(
            "/api/v1/jobs", params={"cursor": cursor}, headers=auth(business.api_key)
        )
        assert listed.status_code == 422, (cursor, listed.text)
        assert listed.json()["detail"][0]["loc"] == ["query", "cursor"]
        page = client.get("/dashboard/jobs", params={"cursor": cursor})
        assert page.status_code == 422, (cursor, page.text)
    well_formed = _cursor('["2026-01-01T00:00:00", "job"]')
    assert client.get(
        "/api/v1/jobs", params={"cursor": well_formed}, headers=auth(business.api_key)
    ).json() == {"items": [], "next_cursor": None}


def test_retrying_a_dead_job_whose_key_a_live_job_holds_is_a_409_naming_it(client) -> None:
    """Before, the live-key constraint's error was a 500 (the scheduler had enqueued the same
    work again under the key): the retry is refused until the live job ends."""
    business = make_business()
    dead = enqueue_unique(actors.NOOP, key=f"nightly-{business.id}", business_id=business.id)
    with tenant_session(business.id) as session:
        session.execute(update(Job).where(Job.id == dead.job_id).values(status="dead"))
    live = enqueue_unique(actors.NOOP, key=f"nightly-{business.id}", business_id=business.id)
    assert live.job_id != dead.job_id

    refused = client.post(f"/api/v1/jobs/{dead.job_id}/retry", headers=auth(business.api_key))
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        f"job {dead.job_id} cannot be retried while job {live.job_id} (queued) holds its dedup "
        "key (it does the same work): retry it once that job has ended, or cancel that one first"
    )
    shown = client.get(f"/api/v1/jobs/{dead.job_id}", headers=auth(business.api_key)).json()
    assert shown["status"] == "dead"

    client.post(f"/api/v1/jobs/{live.job_id}/cancel", headers=auth(business.api_key))
    retried = client.post(f"/api/v1/jobs/{dead.job_id}/retry", headers=auth(business.api_key))
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
