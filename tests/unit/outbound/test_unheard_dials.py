"""A dial whose outcome is unknown (no answer from Twilio, or a driver that died mid-dial) stays
``dialing``, holding its line, and is looked up again by the driver until Twilio lists its call
(recorded, never redialed) or the grace has passed (failed, saying so); a lookup that fails is
no "not found"; a cancel ends the call found and leaves the dial Twilio does not list waiting.

Time: the grace counts from the item's ``updated_at`` (when its dial began), so a test moves
that back instead of waiting minutes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.dialing import CallUrls
from switchboard.domain.outbound.driver import drive_run
from switchboard.domain.outbound.progress import FINAL_ITEM
from switchboard.domain.outbound.unheard import (
    LIST_LAG_GRACE,
    LOOKUP_GIVE_UP,
    NOT_LISTED,
    NOT_LOOKED_UP,
)
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.outbound.test_dialing import PHONE, item_for, start
from tests.unit.outbound.test_outbound_runs import answer_calls, leads_for

SECOND = "+14445550001"  # the second of ``leads_for``'s numbers


def dial_began(business_id: int, item_id: int, ago: timedelta) -> None:
    """Say the item's dial, still waiting, began ``ago``: the clock its grace is read on."""
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == item_id, OutboundItem.status == "dialing")
            .values(updated_at=utcnow() - ago)
        )


def dials_interrupted(business_id: int, leads: int) -> tuple[int, list[OutboundItem]]:
    """A running run (no driver job queued) whose items a dead driver left ``dialing``."""
    new = runs.NewRun(name="r", lead_ids=leads_for(business_id, leads))
    run_id = runs.create_run(business_id, new).run.id
    items = runs.list_items(business_id, run_id)
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundRun).where(OutboundRun.id == run_id).values(status="running")
        )
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id.in_([item.id for item in items]))
            .values(status="dialing", attempts=1, updated_at=utcnow())
        )
    return run_id, items


def tick(business_id: int, run_id: int, twilio: TwilioRestClient) -> str:
    """One driver tick that only looks up (its budget is spent at once)."""
    return drive_run(
        business_id,
        run_id,
        owner="next-tick",
        twilio=twilio,
        urls=CallUrls("http://gateway.test"),
        budget_s=0,
    )


def client(fake_twilio: FakeTwilioServer) -> TwilioRestClient:
    return TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)


def test_a_dial_twilio_lists_late_is_found_by_a_later_lookup_and_placed_once(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """Twilio took the call, the answer was lost, and the call shows in its list 2 s later: the
    dial's own lookup misses it, a later one of the driver records it."""
    business = make_business()
    fake_twilio.list_lag_s = 2.0
    fake_twilio.drop_next("create_call")
    run_id = start(business.id, 1, retry_delay_s=0, max_attempts=3)
    wait_for(
        lambda: item_for(business.id, run_id, PHONE).status in ("in_progress", "failed"),
        timeout=30,
        what="the late-listed call to be found",
    )
    [call] = fake_twilio.calls  # one call: the lead was not dialed again
    item = item_for(business.id, run_id, PHONE)
    assert (item.status, item.call_sid, item.calls_placed, item.error) == (
        "in_progress",
        call,
        1,
        None,
    )
    assert runs.get_run(business.id, run_id).progress.placed == 1


def test_a_dial_twilio_never_lists_holds_its_line_then_fails_after_the_grace(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """While it waits the item is in flight: with one line, the next lead is not dialed and
    the run does not complete; once the grace has passed the item fails saying why, the line
    is free, and the run goes on."""
    business = make_business()
    fake_twilio.list_lag_s = 600.0
    fake_twilio.drop_next("create_call")
    run_id = start(business.id, 2)
    wait_for(
        lambda: "outcome unknown" in (item_for(business.id, run_id, PHONE).error or ""),
        timeout=20,
        what="the unanswered dial to wait for Twilio's list",
    )
    waiting = item_for(business.id, run_id, PHONE)
    view = runs.get_run(business.id, run_id)
    assert (waiting.status, waiting.call_sid) == ("dialing", None)
    assert view.run.status == "running" and view.progress.in_progress == 1
    assert len(fake_twilio.calls) == 1, "a second line was used while the dial waited"
    [lost_call] = fake_twilio.calls

    def failed_after_the_grace() -> bool:
        dial_began(business.id, waiting.id, LIST_LAG_GRACE + timedelta(seconds=1))
        return item_for(business.id, run_id, PHONE).status == "failed"

    wait_for(failed_after_the_grace, timeout=30, what="the driver's next lookup to fail it")
    # The lost dial's call is never heard of again (an answered one would be adopted:
    # ``test_late_calls.py``); the second lead's is answered.
    answered: set[str] = {lost_call}

    def completed() -> bool:
        answer_calls(fake_twilio, business.id, answered)
        return runs.get_run(business.id, run_id).run.status == "completed"

    wait_for(completed, timeout=30, what="the run to dial its second lead and complete")
    item = item_for(business.id, run_id, PHONE)
    assert (item.error, item.calls_placed) == (NOT_LISTED, 0)
    assert [call.params["To"] for call in fake_twilio.calls.values()] == [PHONE, SECOND]


def test_a_lookup_that_fails_keeps_the_dial_waiting_and_the_next_one_records_the_call(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """Twilio cannot be asked (a 500 to the list), even past the grace: that is not "not
    listed". The next tick's lookup finds the call and records it."""
    business = make_business()
    run_id, [item] = dials_interrupted(business.id, 1)
    twilio = client(fake_twilio)
    made = twilio.place_call(item.phone, business.phone_number, "http://gateway.test/t")
    dial_began(business.id, item.id, LIST_LAG_GRACE + timedelta(seconds=1))
    fake_twilio.fail_next("list_calls", status=500)

    assert tick(business.id, run_id, twilio) == "continue"
    waiting = item_for(business.id, run_id, item.phone)
    assert (waiting.status, waiting.call_sid) == ("dialing", None)
    assert waiting.error is not None and "outcome unknown" in waiting.error

    assert tick(business.id, run_id, twilio) == "continue"
    placed = item_for(business.id, run_id, item.phone)
    assert (placed.status, placed.call_sid, placed.calls_placed) == ("in_progress", made.sid, 1)
    assert list(fake_twilio.calls) == [made.sid]


def test_lookups_failing_for_longer_than_the_bound_fail_the_item_saying_so(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    run_id, [item] = dials_interrupted(business.id, 1)
    twilio = client(fake_twilio)
    fake_twilio.fail_next("list_calls", count=2, status=500)

    tick(business.id, run_id, twilio)
    assert item_for(business.id, run_id, item.phone).status == "dialing"
    dial_began(business.id, item.id, LOOKUP_GIVE_UP + timedelta(seconds=1))
    tick(business.id, run_id, twilio)

    failed = item_for(business.id, run_id, item.phone)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.startswith(NOT_LOOKED_UP) and "500" in failed.error
    assert fake_twilio.calls == {}


def test_cancelling_a_run_ends_the_waiting_call_twilio_lists_and_keeps_the_unlisted_one_waiting(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """Two dials wait: Twilio made the first one's call (listed by the time of the cancel), the
    second reached it never. The cancel ends the first call; the second stays ``dialing``
    under the cancelled run, holding its line, for the reconciler's passes to look up until
    the grace has passed (``test_run_ends.py``); no lead is dialed again."""
    business = make_business()
    run_id, [reached, lost] = dials_interrupted(business.id, 2)
    twilio = client(fake_twilio)
    fake_twilio.list_lag_s = 600.0
    made = twilio.place_call(reached.phone, business.phone_number, "http://gateway.test/t")
    tick(business.id, run_id, twilio)
    assert {item.status for item in runs.list_items(business.id, run_id)} == {"dialing"}

    fake_twilio.list_now()
    runs.cancel_run(business.id, run_id)  # its driver, run by the worker, ends the calls
    wait_for(
        lambda: item_for(business.id, run_id, reached.phone).status in FINAL_ITEM,
        timeout=20,
        what="the cancel to settle the waiting dials and end the call found",
    )
    first, second = (
        item_for(business.id, run_id, reached.phone),
        item_for(business.id, run_id, lost.phone),
    )
    assert (first.call_sid, first.calls_placed, first.status) == (made.sid, 1, "failed")
    assert first.error == "call ended canceled"
    assert fake_twilio.calls[made.sid].updates == [{"Status": "completed"}]
    assert (second.status, second.call_sid) == ("dialing", None)
    assert second.error is not None and "outcome unknown" in second.error
    assert list(fake_twilio.calls) == [made.sid]
    view = runs.get_run(business.id, run_id)
    assert (view.run.status, view.progress.in_progress) == ("cancelled", 1)
