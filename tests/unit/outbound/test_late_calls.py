"""A call Twilio lists only after its item failed by the grace rule (``unheard.py``): the lead
was reached, so its item adopts the call once Twilio says it was answered and records its
real outcome; a cancelled run's call adopted so is ended at once. Nothing is dialed again, and
an unanswered status (possibly an earlier call's) adopts nothing.

Statuses come as the gateway sends them (``outbound_call_status_job``, run by the in-process
worker). Time: the grace counts from the item's ``updated_at``, moved back instead of waited.
"""

from __future__ import annotations

from datetime import timedelta

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import OUTBOUND_CALL_STATUS
from switchboard.common.models import OutboundItem
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.calls import apply_call_status
from switchboard.domain.outbound.progress import FINAL_ITEM
from switchboard.domain.outbound.scheduled import Reconciled
from switchboard.domain.outbound.unheard import LIST_LAG_GRACE, NOT_LISTED
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.outbound.test_dialing import item_for
from tests.unit.outbound.test_run_ends import a_run, quiet, reconcile, set_item
from tests.unit.outbound.test_unheard_dials import client, dial_began, dials_interrupted, tick


def status_callback(business_id: int, run_id: int, item_id: int, sid: str, status: str) -> None:
    """Twilio's status callback for the call, as the gateway hands it to the worker."""
    enqueue(
        OUTBOUND_CALL_STATUS,
        business_id=business_id,
        run_id=run_id,
        item_id=item_id,
        call_sid=sid,
        call_status=status,
    )


def test_a_call_twilio_lists_after_the_grace_is_adopted_when_answered_and_its_outcome_kept(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """The dial's answer was lost and Twilio lists its call only after the grace: the item
    failed ``not listed``. The lead answers and talks to the agent: the item adopts the call
    (``in_progress``, the call recorded and counted), then ends ``completed`` with it. Late
    or repeated statuses change nothing more, and the lead is not dialed again."""
    business = make_business()
    run_id, [item] = dials_interrupted(business.id, 1)
    twilio = client(fake_twilio)
    fake_twilio.list_lag_s = 600.0
    made = twilio.place_call(item.phone, business.phone_number, "http://gateway.test/t")
    dial_began(business.id, item.id, LIST_LAG_GRACE + timedelta(seconds=1))
    tick(business.id, run_id, twilio)
    failed = item_for(business.id, run_id, item.phone)
    assert (failed.status, failed.call_sid, failed.error) == ("failed", None, NOT_LISTED)

    status_callback(business.id, run_id, item.id, made.sid, "in-progress")
    wait_for(
        lambda: item_for(business.id, run_id, item.phone).status == "in_progress",
        timeout=20,
        what="the answered call to be adopted",
    )
    adopted = item_for(business.id, run_id, item.phone)
    assert (adopted.call_sid, adopted.calls_placed, adopted.error) == (made.sid, 1, None)
    assert adopted.completed_at is None and adopted.last_call_status == "in-progress"
    assert runs.get_run(business.id, run_id).progress.in_progress == 1

    status_callback(business.id, run_id, item.id, made.sid, "completed")
    wait_for(
        lambda: item_for(business.id, run_id, item.phone).status == "completed",
        timeout=20,
        what="the adopted call's end to complete its item",
    )
    # Out of order, or delivered twice: the item stays as the call ended.
    assert apply_call_status(business.id, run_id, item.id, made.sid, "in-progress") is None
    assert apply_call_status(business.id, run_id, item.id, made.sid, "completed") is None
    done = item_for(business.id, run_id, item.phone)
    assert (done.status, done.calls_placed, done.last_call_status) == ("completed", 1, "completed")
    assert list(fake_twilio.calls) == [made.sid], "the lead was dialed again"


def test_an_unanswered_status_adopts_nothing_and_dials_no_one(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """``ringing``, ``busy`` or ``no-answer`` may be an earlier attempt's call, whose status
    came late: the item failed by the grace stays failed, never put back to be dialed, even
    with attempts left."""
    business = make_business()
    run_id, [item] = dials_interrupted(business.id, 1)
    twilio = client(fake_twilio)
    fake_twilio.list_lag_s = 600.0
    made = twilio.place_call(item.phone, business.phone_number, "http://gateway.test/t")
    dial_began(business.id, item.id, LIST_LAG_GRACE + timedelta(seconds=1))
    tick(business.id, run_id, twilio)

    for status in ("ringing", "busy", "no-answer", "failed"):
        assert apply_call_status(business.id, run_id, item.id, made.sid, status) is None
    still = item_for(business.id, run_id, item.phone)
    assert (still.status, still.call_sid, still.error) == ("failed", None, NOT_LISTED)
    tick(business.id, run_id, twilio)
    assert list(fake_twilio.calls) == [made.sid]


def test_a_cancelled_run_s_call_listed_after_the_grace_is_adopted_and_ended(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """The run was cancelled while its dial waited, and the dial failed ``not listed``; then
    its call is answered: the item adopts it and the run's settling driver, enqueued at once,
    ends it through Twilio (the operator asked the run to stop), the item failing
    ``call ended canceled`` with the call recorded."""
    business = make_business()
    run_id, [lost] = a_run(business.id, 1)
    twilio = client(fake_twilio)
    fake_twilio.list_lag_s = 600.0
    set_item(business.id, lost, status="dialing")
    phone = item_for_id(business.id, run_id, lost).phone
    made = twilio.place_call(phone, business.phone_number, "http://gateway.test/t")
    runs.cancel_run(business.id, run_id)
    dial_began(business.id, lost, LIST_LAG_GRACE + timedelta(seconds=1))
    reconcile(business.id)
    wait_for(
        lambda: item_for(business.id, run_id, phone).status in FINAL_ITEM,
        timeout=20,
        what="the unlisted dial to fail after the grace",
    )
    assert item_for(business.id, run_id, phone).error == NOT_LISTED

    status_callback(business.id, run_id, lost, made.sid, "in-progress")
    wait_for(
        lambda: fake_twilio.calls[made.sid].updates == [{"Status": "completed"}],
        timeout=20,
        what="the adopted call of the cancelled run to be ended",
    )
    wait_for(
        lambda: item_for(business.id, run_id, phone).status in FINAL_ITEM,
        timeout=20,
        what="the ended call to settle its item",
    )
    ended = item_for(business.id, run_id, phone)
    assert (ended.status, ended.call_sid, ended.calls_placed) == ("failed", made.sid, 1)
    assert ended.error == "call ended canceled"
    # The same status again (a redelivered job): nothing is adopted or ended twice.
    assert apply_call_status(business.id, run_id, lost, made.sid, "in-progress") is None
    assert fake_twilio.calls[made.sid].updates == [{"Status": "completed"}]
    assert list(fake_twilio.calls) == [made.sid]
    assert reconcile(business.id) == Reconciled()


def item_for_id(business_id: int, run_id: int, item_id: int) -> OutboundItem:
    return next(i for i in runs.list_items(business_id, run_id) if i.id == item_id)


def test_a_completed_run_s_late_call_is_adopted_and_settled_by_the_reconciler(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    """The run completed with its last item failed ``not listed``; then the call is answered:
    the item adopts it (the run stays completed, the call in flight). Its end's callback is
    lost: the reconciler's settling pass asks Twilio and records it, hanging nothing up."""
    business = make_business()
    run_id, [late] = a_run(business.id, 1, status="completed")
    twilio = client(fake_twilio)
    phone = item_for_id(business.id, run_id, late).phone
    made = twilio.place_call(phone, business.phone_number, "http://gateway.test/t")
    set_item(business.id, late, status="failed", error=NOT_LISTED)

    status_callback(business.id, run_id, late, made.sid, "in-progress")
    wait_for(
        lambda: item_for(business.id, run_id, phone).status == "in_progress",
        timeout=20,
        what="the answered call to be adopted",
    )
    assert runs.get_run(business.id, run_id).run.status == "completed"

    fake_twilio.end_call(made.sid, "completed")
    quiet(business.id, late)
    assert reconcile(business.id).settling == 1
    wait_for(
        lambda: item_for(business.id, run_id, phone).status == "completed",
        timeout=20,
        what="the settling pass to read the call's end from Twilio",
    )
    assert fake_twilio.calls[made.sid].updates == []
    assert reconcile(business.id) == Reconciled()
