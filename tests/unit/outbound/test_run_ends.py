"""A run that ends (closed ``failed`` by the reconciler, or cancelled) leaves no item in flight
for good and dials no lead again: its leads never dialed are cancelled saying why, a dial of
unknown outcome is still looked up at Twilio (found: recorded, and ended for a cancelled run;
never listed: failed after the grace), and a call Twilio reports later still ends its item.

The reconciler's passes are called here as its job does, each at a later lease period (its
settling drivers are unique per period); the drivers they enqueue run on the in-process
worker. Time: the grace counts from the item's ``updated_at``, moved back instead of waited."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from sqlalchemy import update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import OUTBOUND_CALL_STATUS, OUTBOUND_RUN
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.lease import LEASE
from switchboard.domain.outbound.progress import FINAL_ITEM
from switchboard.domain.outbound.scheduled import Reconciled, reconcile_runs
from switchboard.domain.outbound.unheard import LIST_LAG_GRACE, NOT_LISTED
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.outbound.test_dialing import item_for
from tests.unit.outbound.test_outbound_runs import leads_for
from tests.unit.outbound.test_unheard_dials import client, dial_began
from tests.unit.worker.test_scheduled_job_actors import ledger_row

_periods = count(1)


def reconcile(business_id: int) -> Reconciled:
    """One pass of the reconciler's job, in a lease period of its own."""
    return reconcile_runs(business_id, now=utcnow() + LEASE * next(_periods))


def quiet(business_id: int, item_id: int) -> None:
    """Say the item has heard nothing of its call for a minute (its callbacks lost)."""
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == item_id)
            .values(updated_at=utcnow() - timedelta(minutes=1))
        )


def a_run(business_id: int, leads: int, *, status: str = "running") -> tuple[int, list[int]]:
    """A run in ``status`` with no driver renewing its lease, and its item ids."""
    new = runs.NewRun(name="r", lead_ids=leads_for(business_id, leads))
    run_id = runs.create_run(business_id, new).run.id
    with tenant_session(business_id) as session:
        session.execute(update(OutboundRun).where(OutboundRun.id == run_id).values(status=status))
    return run_id, [item.id for item in runs.list_items(business_id, run_id)]


def set_item(business_id: int, item_id: int, **values: object) -> None:
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == item_id)
            .values(attempts=1, updated_at=utcnow(), **values)
        )


def items(business_id: int, run_id: int) -> dict[int, OutboundItem]:
    return {item.id: item for item in runs.list_items(business_id, run_id)}


def test_a_run_closed_failed_cancels_its_undialed_leads_and_settles_every_call_in_flight(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """The driver job died for good with four leads in four states: one never dialed, one on
    the phone, one dialed with the call Twilio lists late, one whose dial never reached
    Twilio. The run says ``failed``; the live calls are not hung up, their outcome is recorded
    when Twilio tells it (a callback, or a lookup once quiet); nothing is dialed again."""
    business = make_business()
    run_id, [pending, live, late, lost] = a_run(business.id, 4)
    twilio = client(fake_twilio)
    by_id = items(business.id, run_id)
    on_phone = twilio.place_call(by_id[live].phone, business.phone_number, "http://g.test/t")
    set_item(business.id, live, status="in_progress", call_sid=on_phone.sid, calls_placed=1)
    fake_twilio.list_lag_s = 600.0
    set_item(business.id, late, status="dialing")
    set_item(business.id, lost, status="dialing")
    listed_late = twilio.place_call(by_id[late].phone, business.phone_number, "http://g.test/t")
    ledger_row(
        business.id,
        "dead",
        timedelta(minutes=5),
        actor_name=OUTBOUND_RUN.name,
        run_id=run_id,
        last_error="boom",
    )

    done = reconcile(business.id)

    assert (done.closed, done.settling) == (1, 1)
    view = runs.get_run(business.id, run_id)
    assert (view.run.status, view.run.end_reason) == ("failed", "driver job dead: boom")
    never = item_for(business.id, run_id, by_id[pending].phone)
    assert never.status == "cancelled"
    assert never.error == "not dialed, the run ended: driver job dead: boom"
    wait_for(
        lambda: all(
            "outcome unknown" in (item_for(business.id, run_id, by_id[i].phone).error or "")
            for i in (late, lost)
        ),
        timeout=20,
        what="the settling driver to look the waiting dials up",
    )
    assert {i.status for i in items(business.id, run_id).values() if i.id != pending} == {
        "in_progress",
        "dialing",
    }

    # Twilio lists the late call, and the other dial's grace passes: the next pass settles both.
    fake_twilio.list_now()
    dial_began(business.id, lost, LIST_LAG_GRACE + timedelta(seconds=1))
    assert reconcile(business.id).settling == 1
    wait_for(
        lambda: (
            item_for(business.id, run_id, by_id[late].phone).status == "in_progress"
            and item_for(business.id, run_id, by_id[lost].phone).status == "failed"
        ),
        timeout=20,
        what="the late call to be recorded and the unlisted dial failed",
    )
    found = item_for(business.id, run_id, by_id[late].phone)
    assert (found.call_sid, found.calls_placed) == (listed_late.sid, 1)
    assert item_for(business.id, run_id, by_id[lost].phone).error == NOT_LISTED
    assert fake_twilio.calls[listed_late.sid].updates == [], "a failed run hung up on a lead"
    assert fake_twilio.calls[on_phone.sid].updates == []

    # One call ends with its callback; the other's callbacks are lost: a pass asks Twilio.
    enqueue(  # as the gateway does on Twilio's callback
        OUTBOUND_CALL_STATUS,
        business_id=business.id,
        run_id=run_id,
        item_id=live,
        call_sid=on_phone.sid,
        call_status="completed",
    )
    fake_twilio.end_call(listed_late.sid, "no-answer")
    quiet(business.id, found.id)
    reconcile(business.id)
    wait_for(
        lambda: all(i.status in FINAL_ITEM for i in items(business.id, run_id).values()),
        timeout=20,
        what="every call of the failed run to end on its item",
    )
    final = items(business.id, run_id)
    assert final[live].status == "completed"
    assert (final[late].status, final[late].error) == ("failed", "call ended no-answer")
    assert sorted(fake_twilio.calls) == sorted([on_phone.sid, listed_late.sid]), "a lead redialed"
    assert reconcile(business.id) == Reconciled()  # nothing is left for the reconciler


def test_a_cancel_keeps_looking_up_a_dial_twilio_lists_late_and_ends_its_call(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """A dial waits for Twilio's list when the run is cancelled: it stays ``dialing`` (holding
    its line) under the cancelled run; once Twilio lists its call, the reconciler's pass ends
    it. Another whose call Twilio never lists fails once the grace has passed."""
    business = make_business()
    run_id, [late, lost] = a_run(business.id, 2)
    twilio = client(fake_twilio)
    by_id = items(business.id, run_id)
    fake_twilio.list_lag_s = 600.0
    set_item(business.id, late, status="dialing")
    set_item(business.id, lost, status="dialing")
    listed_late = twilio.place_call(by_id[late].phone, business.phone_number, "http://g.test/t")

    runs.cancel_run(business.id, run_id)  # its driver, run by the worker, looks both up
    wait_for(
        lambda: all(
            "outcome unknown" in (i.error or "") for i in items(business.id, run_id).values()
        ),
        timeout=20,
        what="the cancel's driver to look the waiting dials up",
    )
    view = runs.get_run(business.id, run_id)
    assert (view.run.status, view.progress.in_progress) == ("cancelled", 2)

    fake_twilio.list_now()
    assert reconcile(business.id).settling == 1
    wait_for(
        lambda: item_for(business.id, run_id, by_id[late].phone).status in FINAL_ITEM,
        timeout=20,
        what="the call Twilio listed after the cancel to be ended",
    )
    ended = item_for(business.id, run_id, by_id[late].phone)
    assert (ended.status, ended.call_sid, ended.calls_placed) == ("failed", listed_late.sid, 1)
    assert ended.error == "call ended canceled"
    assert fake_twilio.calls[listed_late.sid].updates == [{"Status": "completed"}]
    assert item_for(business.id, run_id, by_id[lost].phone).status == "dialing"

    dial_began(business.id, lost, LIST_LAG_GRACE + timedelta(seconds=1))
    reconcile(business.id)
    wait_for(
        lambda: item_for(business.id, run_id, by_id[lost].phone).status in FINAL_ITEM,
        timeout=20,
        what="the unlisted dial to fail after the grace",
    )
    assert item_for(business.id, run_id, by_id[lost].phone).error == NOT_LISTED
    assert list(fake_twilio.calls) == [listed_late.sid], "a lead was dialed after the cancel"
    assert reconcile(business.id) == Reconciled()


def test_a_run_ended_days_ago_whose_calls_were_never_settled_is_settled(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """A run cancelled three days ago whose settling never ran (Twilio down, no worker over a
    long weekend) still has a dial waiting: the reconciler's next pass settles it (here:
    failed, Twilio listing no such call), then has nothing left to read."""
    business = make_business()
    run_id, [item] = a_run(business.id, 1, status="cancelled")
    set_item(business.id, item, status="dialing")
    long_ago: datetime = utcnow() - timedelta(days=3)
    with tenant_session(business.id) as session:
        session.execute(
            update(OutboundRun).where(OutboundRun.id == run_id).values(finished_at=long_ago)
        )
    dial_began(business.id, item, timedelta(days=3))

    assert reconcile(business.id).settling == 1
    wait_for(
        lambda: items(business.id, run_id)[item].status in FINAL_ITEM,
        timeout=20,
        what="the old run's dial to be settled",
    )
    assert items(business.id, run_id)[item].error == NOT_LISTED
    assert fake_twilio.calls == {}
    assert reconcile(business.id) == Reconciled()
