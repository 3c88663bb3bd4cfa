"""Outbound runs on the embedded stack, with the real Twilio client against the fake Twilio."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from switchboard.common.db import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import OUTBOUND_CALL_STATUS
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.outbound import runs
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for


def leads_for(business_id: int, count: int) -> list[int]:
    with tenant_session(business_id) as session:
        return [upsert_lead(session, business_id, f"+1444555{i:04d}")[0].id for i in range(count)]


def answer_calls(
    fake: FakeTwilioServer, business_id: int, answered: set[str], status: str = "completed"
) -> None:
    """Play Twilio: report every call placed so far as finished."""
    for sid, call in list(fake.calls.items()):
        if sid in answered:
            continue
        query = parse_qs(urlparse(call.params["Url"]).query)
        run_id, item_id = int(query["run_id"][0]), int(query["item_id"][0])
        enqueue(
            OUTBOUND_CALL_STATUS,
            business_id=business_id,
            run_id=run_id,
            item_id=item_id,
            call_sid=sid,
            call_status=status,
        )
        answered.add(sid)


def dialed_numbers(fake: FakeTwilioServer) -> list[str]:
    return [call.params["To"] for call in fake.calls.values()]


def test_second_start_of_a_running_run_is_409(outbound_env) -> None:
    business = make_business()
    run = runs.create_run(business.id, runs.NewRun(name="r", lead_ids=leads_for(business.id, 2)))
    runs.start_run(business.id, run.run.id)
    with pytest.raises(runs.RunStateError, match="already running"):
        runs.start_run(business.id, run.run.id)


def test_a_run_dials_every_lead_once_within_its_concurrency_and_completes(
    outbound_env, fake_twilio
) -> None:
    business = make_business()
    run = runs.create_run(
        business.id, runs.NewRun(name="r", lead_ids=leads_for(business.id, 5), concurrency=2)
    )
    runs.start_run(business.id, run.run.id)
    answered: set[str] = set()

    def finished() -> bool:
        view = runs.get_run(business.id, run.run.id)
        assert view.progress.in_progress <= 2
        assert view.progress.placed <= len(fake_twilio.calls) + 2
        answer_calls(fake_twilio, business.id, answered)
        return view.run.status == "completed"

    wait_for(finished, timeout=60, what="the run to complete")
    view = runs.get_run(business.id, run.run.id)
    assert (view.progress.total, view.progress.completed, view.progress.progress) == (5, 5, 1.0)
    assert not view.progress.active
    numbers = dialed_numbers(fake_twilio)
    assert len(numbers) == 5 and len(set(numbers)) == 5


def test_cancel_mid_run_places_no_call_after_the_response(outbound_env, fake_twilio) -> None:
    business = make_business()
    run = runs.create_run(
        business.id, runs.NewRun(name="r", lead_ids=leads_for(business.id, 6), concurrency=1)
    )
    runs.start_run(business.id, run.run.id)
    answered: set[str] = set()

    def two_placed() -> bool:
        answer_calls(fake_twilio, business.id, answered)
        return len(fake_twilio.calls) >= 2

    wait_for(two_placed, timeout=30, what="two calls")
    cancelled = runs.cancel_run(business.id, run.run.id)
    placed_at_cancel = len(fake_twilio.calls)
    assert cancelled.run.status == "cancelled"
    wait_for(
        lambda: runs.get_run(business.id, run.run.id).progress.in_progress == 0,
        timeout=30,
        what="in-flight calls to be ended",
    )
    assert len(fake_twilio.calls) == placed_at_cancel
    view = runs.get_run(business.id, run.run.id)
    assert view.progress.cancelled >= 6 - placed_at_cancel
    assert not view.progress.active


def test_a_busy_lead_is_retried_as_the_policy_allows(outbound_env, fake_twilio) -> None:
    business = make_business()
    run = runs.create_run(
        business.id,
        runs.NewRun(name="r", lead_ids=leads_for(business.id, 1), max_attempts=2, retry_delay_s=0),
    )
    runs.start_run(business.id, run.run.id)
    answered: set[str] = set()
    wait_for(lambda: len(fake_twilio.calls) == 1, timeout=30, what="first attempt")
    answer_calls(fake_twilio, business.id, answered, status="busy")
    wait_for(lambda: len(fake_twilio.calls) == 2, timeout=30, what="second attempt")
    answer_calls(fake_twilio, business.id, answered, status="busy")
    wait_for(
        lambda: runs.get_run(business.id, run.run.id).run.status == "completed",
        timeout=30,
        what="run to end",
    )
    item = runs.list_items(business.id, run.run.id)[0]
    assert (item.status, item.attempts, item.last_call_status) == ("failed", 2, "busy")
    assert runs.get_run(business.id, run.run.id).progress.placed == 2, "two calls went out"


def test_a_run_over_the_business_cap_is_refused_naming_concurrency(outbound_env) -> None:
    business = make_business()
    with pytest.raises(runs.RunInputError) as error:
        runs.create_run(
            business.id, runs.NewRun(name="r", lead_ids=leads_for(business.id, 1), concurrency=50)
        )
    assert error.value.field == "concurrency"


def test_another_business_cannot_see_start_or_cancel_a_run(outbound_env) -> None:
    owner, other = make_business(), make_business()
    run = runs.create_run(owner.id, runs.NewRun(name="r", lead_ids=leads_for(owner.id, 1)))
    for operation in (runs.get_run, runs.start_run, runs.cancel_run, runs.list_items):
        with pytest.raises(runs.RunNotFoundError):
            operation(other.id, run.run.id)
    with pytest.raises(runs.RunInputError, match="leads not found"):
        runs.create_run(other.id, runs.NewRun(name="r", lead_ids=leads_for(owner.id, 1)))
