"""Embedded mode: ``end_stale_calls_job`` through the in-process worker ends the calls a dead
gateway left ``in-progress``, and the outbound item of such a call fails with it."""

from __future__ import annotations

import dramatiq

from switchboard.domain.calls.stale import quiet_limit
from tests.support.calls import call_of, dialed_item, item_of, session_of, started_call
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.worker.jobs import jobs_of, run


def test_the_sweep_ends_a_dead_gateway_s_call_and_fails_its_outbound_item_with_it(
    worker: dramatiq.Worker,
) -> None:
    ours, theirs = make_business(), make_business()
    quiet = quiet_limit(1800) * 2
    sid = started_call(ours.id, ours.phone_number, quiet_for=quiet)
    _, item_id = dialed_item(
        ours.id, sid, status="in_progress", last_call_status="in-progress", quiet_for=quiet
    )
    foreign = started_call(theirs.id, theirs.phone_number, quiet_for=quiet)

    job = run("end_stale_calls_job", business_id=ours.id)

    assert job.status == "succeeded", job.last_error
    call = call_of(ours.id, sid)
    assert (call.status, call.end_reason) == ("failed", "no_end_event")
    assert session_of(ours.id, sid).state == "ended"
    wait_for(
        lambda: tuple(item_of(ours.id, item_id)) == ("failed", "failed", "call ended failed"),
        what="the item to fail with its call",
    )
    assert call_of(theirs.id, foreign).status == "in-progress"
    assert run("end_stale_calls_job", business_id=ours.id).status == "succeeded"
    assert len(jobs_of(ours.id, "outbound_call_status_job")) == 1
