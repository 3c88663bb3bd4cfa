"""Outbound runs against real API, worker and scheduler processes on PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select, update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.jobs import enqueue
from switchboard.common.jobs import service as jobs
from switchboard.common.jobs.catalog import OUTBOUND_CALL_STATUS, OUTBOUND_RUN
from switchboard.common.models import Job, OutboundItem, OutboundRun
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.unheard import LIST_LAG_GRACE
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business
from tests.support.processes import free_port
from tests.support.waiting import wait_for
from tests.unit.outbound.test_outbound_runs import leads_for
from tests.unit.worker.test_scheduled_job_actors import ledger_row


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def twilio_env(fake: FakeTwilioServer) -> dict[str, str]:
    return {
        "twilio_api_base_url": fake.url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "public_base_url": "http://gateway.test",
    }


def start_api(start_service, fake: FakeTwilioServer):
    port = free_port()
    process = start_service("api", "--port", str(port), **twilio_env(fake))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _up(url), timeout=60, what="the API")
    return url, process


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def create_run(api: str, key: str, leads: int, concurrency: int) -> int:
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api, headers=auth) as client:
        lead_ids = leads_for(client_business(client), leads)
        response = client.post(
            "/api/v1/outbound-runs",
            json={"name": "spring", "lead_ids": lead_ids, "concurrency": concurrency},
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def client_business(client: httpx.Client) -> int:
    return int(client.get("/api/v1/businesses/me").json()["id"])


def run_calls(fake: FakeTwilioServer, run_id: int) -> dict[str, object]:
    """The calls placed for this run (an earlier test's run may share the worker and fake)."""
    return {
        sid: call
        for sid, call in list(fake.calls.items())
        if parse_qs(urlparse(call.params["Url"]).query)["run_id"] == [str(run_id)]
    }


def answer(fake: FakeTwilioServer, business_id: int, answered: set[str], run_id: int) -> None:
    """End each new call of the run at the fake and send its ``completed`` status job.

    The job can come before the worker stored the call's sid (or, when a kill interrupted the
    dial, before the restarted driver found the call at Twilio): the status is then dropped as
    an earlier attempt's, and the driver's lookup of quiet calls reads the call's end from the
    fake, as it would from Twilio.
    """
    for sid, call in run_calls(fake, run_id).items():
        if sid not in answered:
            fake.end_call(sid)
            query = parse_qs(urlparse(call.params["Url"]).query)
            enqueue(
                OUTBOUND_CALL_STATUS,
                business_id=business_id,
                run_id=int(query["run_id"][0]),
                item_id=int(query["item_id"][0]),
                call_sid=sid,
                call_status="completed",
            )
            answered.add(sid)


def test_100_concurrent_starts_give_exactly_one_success(pg_rabbit, start_service, twilio) -> None:
    api, _ = start_api(start_service, twilio)
    business = make_business()
    run_id = create_run(api, business.api_key, leads=2, concurrency=1)

    async def storm() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(
            base_url=api,
            limits=limits,
            timeout=60,
            headers={"Authorization": f"Bearer {business.api_key}"},
        ) as client:
            responses = await asyncio.gather(
                *(client.post(f"/api/v1/outbound-runs/{run_id}/start") for _ in range(100))
            )
        return [r.status_code for r in responses]

    codes = asyncio.run(storm())
    assert codes.count(200) == 1 and codes.count(409) == 99, codes


def test_sigkill_of_every_process_mid_run_then_restart_finishes_without_redialing(
    pg_rabbit, start_service, start_worker, twilio
) -> None:
    api, api_process = start_api(start_service, twilio)
    worker = start_service("worker", "--processes", "1", "--threads", "4", **twilio_env(twilio))
    scheduler = start_service("scheduler", "--port", str(free_port()), **twilio_env(twilio))
    business = make_business()
    run_id = create_run(api, business.api_key, leads=8, concurrency=2)
    auth = {"Authorization": f"Bearer {business.api_key}"}
    assert httpx.post(f"{api}/api/v1/outbound-runs/{run_id}/start", headers=auth).status_code == 200
    answered: set[str] = set()

    def progress() -> dict:
        view = httpx.get(f"{api}/api/v1/outbound-runs/{run_id}", headers=auth).json()
        dialed = len(run_calls(twilio, run_id))
        if not view["placed"] <= dialed <= view["placed"] + 2:
            items = httpx.get(f"{api}/api/v1/outbound-runs/{run_id}/items", headers=auth).json()
            raise AssertionError(
                (view, dialed, items, [c.params["To"] for c in twilio.calls.values()])
            )
        return view

    def placed_three() -> bool:
        answer(twilio, business.id, answered, run_id)
        return len(run_calls(twilio, run_id)) >= 3

    wait_for(placed_three, timeout=60, what="three calls")
    for process in (worker, scheduler, api_process):
        process.kill()
    dialed_before_restart = len(run_calls(twilio, run_id))
    api, _ = start_api(start_service, twilio)
    assert progress()["status"] == "running"
    start_service("worker", "--processes", "1", "--threads", "4", **twilio_env(twilio))
    start_service("scheduler", "--port", str(free_port()), **twilio_env(twilio))

    def finished() -> bool:
        answer(twilio, business.id, answered, run_id)
        return progress()["status"] != "running"

    # A dial the kill cut off before it reached Twilio is listed nowhere: its item waits out
    # the grace for Twilio's list (2 min after it was claimed) before it fails.
    wait_for(
        finished,
        timeout=LIST_LAG_GRACE.total_seconds() + 180,
        what="the run to finish after the restart",
    )
    final = progress()
    # Only this run's calls: an earlier test's run may be driven by this worker too.
    numbers = [call.params["To"] for call in run_calls(twilio, run_id).values()]
    assert len(numbers) == len(set(numbers)), "a lead was dialed twice"
    assert len(numbers) >= 8 - final["failed"]
    assert final["status"] == "completed" and not final["active"]
    assert final["completed"] + final["failed"] == 8
    assert len(run_calls(twilio, run_id)) >= dialed_before_restart


def test_cancelling_the_driver_job_cancels_the_run_between_calls(
    pg_rabbit, start_service, twilio
) -> None:
    start_service("worker", "--processes", "1", "--threads", "4", **twilio_env(twilio))
    business = make_business()
    new = runs.NewRun(name="spring", lead_ids=leads_for(business.id, 3), concurrency=1)
    run_id = runs.create_run(business.id, new).run.id
    runs.start_run(business.id, run_id)
    # Nobody answers: one call stays in progress and the driver waits between calls.
    wait_for(lambda: len(run_calls(twilio, run_id)) == 1, timeout=60, what="the first call")

    def driver_job() -> str | None:
        with system_session() as session:
            return session.scalar(
                select(Job.id).where(
                    Job.run_id == run_id,
                    Job.actor_name == OUTBOUND_RUN.name,
                    Job.status == "running",
                )
            )

    job_id = wait_for(driver_job, timeout=30, what="the running driver job")
    asked = jobs.cancel_job(business.id, job_id)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    wait_for(
        lambda: jobs.get_job(business.id, job_id).status == "cancelled",
        timeout=30,
        what="the driver to stop",
    )
    view = runs.get_run(business.id, run_id)
    assert view.run.status == "cancelled"
    assert view.run.end_reason == "cancelled: its driver job was cancelled"
    (call,) = run_calls(twilio, run_id).values()
    assert call.status == "canceled" or call.updates, "the call in progress was not ended"
    assert (view.progress.cancelled, view.progress.failed) == (2, 1)
    time.sleep(1)
    assert len(run_calls(twilio, run_id)) == 1, "a call was placed after the cancel"


def test_a_run_whose_driver_died_for_good_is_closed_and_its_calls_settled_by_the_scheduler(
    pg_rabbit, start_service, twilio
) -> None:
    """The run's driver job is dead with a lead never dialed, one on the phone and one whose
    dial waits for Twilio's list. The scheduler's reconciler closes the run ``failed`` and
    cancels the lead never dialed; its passes then record the call Twilio lists late, and the
    calls' ends reach their items; no lead is dialed again."""
    business = make_business()
    new = runs.NewRun(name="spring", lead_ids=leads_for(business.id, 3))
    run_id = runs.create_run(business.id, new).run.id
    never, live, late = runs.list_items(business.id, run_id)
    fake = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=twilio.url)
    on_phone = fake.place_call(live.phone, business.phone_number, "http://gateway.test/t")
    twilio.list_lag_s = 600.0
    listed_late = fake.place_call(late.phone, business.phone_number, "http://gateway.test/t")
    with tenant_session(business.id) as session:
        session.execute(
            update(OutboundRun).where(OutboundRun.id == run_id).values(status="running")
        )
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == live.id)
            .values(status="in_progress", call_sid=on_phone.sid, attempts=1, calls_placed=1)
        )
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == late.id)
            .values(status="dialing", attempts=1, updated_at=utcnow())
        )
    ledger_row(
        business.id, "dead", timedelta(minutes=5), actor_name=OUTBOUND_RUN.name, run_id=run_id
    )
    start_service("worker", "--processes", "1", "--threads", "4", **twilio_env(twilio))
    start_service("scheduler", "--port", str(free_port()), **twilio_env(twilio))

    def item(item_id: int) -> OutboundItem:
        return next(i for i in runs.list_items(business.id, run_id) if i.id == item_id)

    wait_for(
        lambda: "outcome unknown" in (item(late.id).error or ""),
        timeout=60,
        what="the reconciler to close the run and look the waiting dial up",
    )
    view = runs.get_run(business.id, run_id)
    assert view.run.status == "failed" and view.run.end_reason is not None
    assert view.run.end_reason.startswith("driver job dead")
    assert item(never.id).status == "cancelled"

    twilio.list_now()
    wait_for(
        lambda: item(late.id).call_sid == listed_late.sid,
        timeout=60,
        what="a later pass to record the call Twilio listed late",
    )
    for item_id, sid in ((live.id, on_phone.sid), (late.id, listed_late.sid)):
        twilio.end_call(sid)
        enqueue(
            OUTBOUND_CALL_STATUS,
            business_id=business.id,
            run_id=run_id,
            item_id=item_id,
            call_sid=sid,
            call_status="completed",
        )
    wait_for(
        lambda: (
            {i.status for i in runs.list_items(business.id, run_id)} == {"cancelled", "completed"}
        ),
        timeout=30,
        what="the calls' ends to reach their items",
    )
    # This business's calls only: an earlier test's run (the 100 starts') may be driven by
    # this worker, through this fake, too.
    ours = {
        sid: call
        for sid, call in list(twilio.calls.items())
        if call.params["From"] == business.phone_number
    }
    assert sorted(ours) == sorted([on_phone.sid, listed_late.sid]), "a lead redialed"
    assert all(not call.updates for call in ours.values()), "a failed run hung up"
