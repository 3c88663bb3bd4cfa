"""Dialing against the fake Twilio: a refusal (429, 503) is tried again with backoff, then the
lead fails with Twilio's answer; a dial Twilio may have taken without answering (no answer, a
500, a driver that died mid-request) is never repeated: it is looked up in Twilio's calls and
placed if found, failed if still not listed after the grace (``test_unheard_dials.py``); a
run's ``placed`` counts only the calls Twilio accepted."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.dialing import CallUrls
from switchboard.domain.outbound.driver import drive_run
from switchboard.domain.outbound.unheard import LIST_LAG_GRACE, NOT_LISTED
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.outbound.test_outbound_runs import answer_calls, leads_for

PHONE = "+14445550000"  # the first of ``leads_for``'s numbers


def start(business_id: int, leads: int, **policy: int) -> int:
    new = runs.NewRun(name="r", lead_ids=leads_for(business_id, leads), **policy)
    run_id = runs.create_run(business_id, new).run.id
    runs.start_run(business_id, run_id)
    return run_id


def item_for(business_id: int, run_id: int, phone: str) -> OutboundItem:
    return next(i for i in runs.list_items(business_id, run_id) if i.phone == phone)


def test_a_dial_twilio_refuses_for_now_is_tried_again_and_placed(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    fake_twilio.fail_calls_to(PHONE, 2, status=429)
    run_id = start(business.id, 1)
    wait_for(
        lambda: item_for(business.id, run_id, PHONE).status == "in_progress",
        timeout=20,
        what="the call to be placed after two refusals",
    )
    item = item_for(business.id, run_id, PHONE)
    assert fake_twilio.refused_calls == [(PHONE, 429), (PHONE, 429)]
    assert len(fake_twilio.calls) == 1
    assert (item.attempts, item.calls_placed, item.error) == (1, 1, None)
    assert item.call_sid in fake_twilio.calls
    assert runs.get_run(business.id, run_id).progress.placed == 1


def test_a_dial_twilio_keeps_refusing_fails_the_lead_with_its_answer_and_is_not_placed(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    fake_twilio.fail_calls_to(PHONE, 10, status=503)
    run_id = start(business.id, 2, retry_delay_s=0, max_attempts=3)
    answered: set[str] = set()

    def finished() -> bool:
        view = runs.get_run(business.id, run_id)
        # Read before the fake's calls: a call counted placed was accepted by then.
        assert view.progress.placed <= len(fake_twilio.calls), "counted a call Twilio refused"
        answer_calls(fake_twilio, business.id, answered)
        return view.run.status == "completed"

    wait_for(finished, timeout=30, what="the run to complete")
    item = item_for(business.id, run_id, PHONE)
    assert item.status == "failed" and item.calls_placed == 0
    assert item.error is not None and "refused the call 4 times" in item.error
    assert "503" in item.error
    assert fake_twilio.refused_calls == [(PHONE, 503)] * 4, "1 try and 3 retries (the settings)"
    view = runs.get_run(business.id, run_id).progress
    assert (view.placed, view.completed, view.failed) == (1, 1, 1)
    assert PHONE not in [call.params["To"] for call in fake_twilio.calls.values()]


def test_a_dial_that_never_reached_twilio_is_tried_again_and_placed(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """Connection refused: the request never left, so dialing again cannot call twice."""
    business = make_business()
    port = urlsplit(fake_twilio.url).port
    assert port is not None
    fake_twilio.stop()  # Twilio unreachable: connections to its address are refused
    run_id = start(business.id, 1)
    wait_for(
        lambda: "trying again" in (item_for(business.id, run_id, PHONE).error or ""),
        timeout=20,
        what="a refused connection to be tried again",
    )
    fake_twilio.start(port)
    wait_for(
        lambda: item_for(business.id, run_id, PHONE).status == "in_progress",
        timeout=30,
        what="the call to be placed once Twilio is reachable",
    )
    item = item_for(business.id, run_id, PHONE)
    assert (item.calls_placed, item.error) == (1, None)
    assert len(fake_twilio.calls) == 1


def test_a_dial_twilio_took_without_answering_is_found_at_twilio_and_placed_once(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    fake_twilio.drop_next("create_call")  # the call is created, the answer never arrives
    run_id = start(business.id, 1, retry_delay_s=0, max_attempts=3)
    wait_for(
        lambda: item_for(business.id, run_id, PHONE).status == "in_progress",
        timeout=20,
        what="the unanswered dial to be found at Twilio",
    )
    [call] = fake_twilio.calls  # the lead was called once, by the request that heard nothing
    item = item_for(business.id, run_id, PHONE)
    assert (item.call_sid, item.calls_placed, item.error) == (call, 1, None)
    assert runs.get_run(business.id, run_id).progress.placed == 1


def test_a_dial_twilio_took_but_answered_with_a_server_error_is_not_dialed_again(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """A 500 (unlike a 429 or 503) does not say the call was not made: it is looked up."""
    business = make_business()
    fake_twilio.lose_answer_next("create_call", status=500)
    run_id = start(business.id, 1, retry_delay_s=0, max_attempts=3)
    wait_for(
        lambda: item_for(business.id, run_id, PHONE).status == "in_progress",
        timeout=20,
        what="the dial answered 500 to be found at Twilio",
    )
    [call] = fake_twilio.calls
    item = item_for(business.id, run_id, PHONE)
    assert (item.call_sid, item.calls_placed, item.error) == (call, 1, None)
    assert fake_twilio.refused_calls == []


def test_a_dial_its_driver_died_in_is_found_at_twilio_and_one_that_never_reached_it_fails(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """Two items a dead driver left ``dialing``: Twilio made the first one's call (the driver
    died before it stored the sid), the second's request never reached Twilio. The next tick
    records the first call as placed; the second waits for Twilio's list to catch up, and a
    tick after the grace fails it. Neither lead is dialed again."""
    business = make_business()
    new = runs.NewRun(name="r", lead_ids=leads_for(business.id, 2))
    run_id = runs.create_run(business.id, new).run.id
    reached, lost = runs.list_items(business.id, run_id)
    with tenant_session(business.id) as session:
        session.execute(
            update(OutboundRun).where(OutboundRun.id == run_id).values(status="running")
        )
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id.in_((reached.id, lost.id)))
            .values(status="dialing", attempts=1, updated_at=utcnow())
        )
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
    taken = twilio.place_call(reached.phone, business.phone_number, "http://gateway.test/t")

    outcome = drive_run(
        business.id,
        run_id,
        owner="next-tick",
        twilio=twilio,
        urls=CallUrls("http://gateway.test"),
        budget_s=0,
    )

    assert outcome == "continue"
    assert list(fake_twilio.calls) == [taken.sid]  # nothing dialed by the tick
    first, second = (
        item_for(business.id, run_id, reached.phone),
        item_for(business.id, run_id, lost.phone),
    )
    assert (first.status, first.call_sid, first.calls_placed) == ("in_progress", taken.sid, 1)
    assert (second.status, second.call_sid, second.calls_placed) == ("dialing", None, 0)

    with tenant_session(business.id) as session:  # the dial began longer ago than the grace
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == lost.id)
            .values(updated_at=utcnow() - LIST_LAG_GRACE - timedelta(seconds=1))
        )
    drive_run(
        business.id,
        run_id,
        owner="next-tick",
        twilio=twilio,
        urls=CallUrls("http://gateway.test"),
        budget_s=0,
    )
    second = item_for(business.id, run_id, lost.phone)
    assert (second.status, second.call_sid, second.error) == ("failed", None, NOT_LISTED)
    assert list(fake_twilio.calls) == [taken.sid]
    assert runs.get_run(business.id, run_id).progress.placed == 1


def test_placed_counts_the_calls_twilio_accepted_not_the_attempts(outbound_env) -> None:
    business = make_business()
    run = runs.create_run(business.id, runs.NewRun(name="r", lead_ids=leads_for(business.id, 3)))
    first, second, third = (item.id for item in runs.list_items(business.id, run.run.id))
    states = {
        # Twilio refused its dial: no call went out.
        first: {"status": "failed", "attempts": 1, "calls_placed": 0},
        # Busy on its first call, dialing again: one call so far.
        second: {"status": "dialing", "attempts": 2, "calls_placed": 1},
        # Ringing now after a busy first call: two calls.
        third: {"status": "in_progress", "attempts": 2, "calls_placed": 2, "call_sid": "CA1"},
    }
    with tenant_session(business.id) as session:
        for item_id, values in states.items():
            session.execute(
                update(OutboundItem)
                .where(OutboundItem.business_id == business.id, OutboundItem.id == item_id)
                .values(**values)
            )
    assert runs.get_run(business.id, run.run.id).progress.placed == 3
