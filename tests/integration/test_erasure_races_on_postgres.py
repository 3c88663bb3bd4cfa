"""An erasure racing a recording job's attach, on PostgreSQL: they serialize on the call's lock
(``erasures/erased_calls.py``), so the erased voice never comes back. And an erased call's
status reaching its outbound item while the erasure runs, or after it: the item is never put
back to be dialed, so the erased person is never called again. And the person's outbound
item dialed once the erasure is accepted, however the driver's ticks fall between its steps:
no call goes out (the request and the dial serialize on the number's lock,
``erasures/requests.py``), nor when the item dials the number the person's lead had before
(the dial takes its lead's number's lock too, and holds the lead's row); a dial of unknown
outcome is closed, not looked up by a blank number. And a lead's number changed to or from
one a request is under way for, or a lead created with it: the write waits for the request,
then is refused; and two changes of one lead's number, the second checking the number the
first gave the lead (the lead's row is locked before its number is read). And a CSV import
and a request for one of its numbers: whichever comes second waits for the other (the
business's import lock), so the import finds the erasure or the erasure erases the import's
lead.

The interleavings are held with database locks a test connection takes and lets go of, each
step awaited on ``pg_stat_activity`` (a backend waiting on a lock), never slept for.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.errors import ConflictError
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.models import (
    CallLog,
    ErasedCall,
    Erasure,
    Lead,
    OutboundItem,
    OutboundRun,
    Recording,
    Reminder,
    WebhookDelivery,
)
from switchboard.common.settings import Settings
from switchboard.domain.calls.recordings import process_recording
from switchboard.domain.erasures import request_erasure, run_erasure
from switchboard.domain.erasures.erased_calls import call_sid_hash
from switchboard.domain.erasures.job import ERASED_ITEM
from switchboard.domain.erasures.requests import Requested, lock_number, phone_hash
from switchboard.domain.leads import store as leads_store
from switchboard.domain.outbound.calls import apply_call_status
from switchboard.domain.outbound.dialing import CallUrls, DialRetries, claim_item, dial
from switchboard.domain.outbound.driver import drive_run
from switchboard.domain.outbound.lease import acquire_lease
from tests.fakes.openai_http import FakeOpenAIServer, fake_openai
from tests.fakes.twilio_rest import FakeTwilioServer, fake_twilio
from tests.support.environment import configured
from tests.support.factories import unique_phone
from tests.support.lock_waits import until_waiting
from tests.support.waiting import wait_for
from tests.unit.worker.conftest import fake_service_env
from tests.unit.worker.erasure_world import Person, late_recording, person_world, traces
from tests.unit.worker.world import add, sid

pytestmark = pytest.mark.integration

__all__ = ["fake_openai", "fake_twilio"]


@pytest.fixture
def env(
    pg_url: str, tmp_path: Path, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> Iterator[Settings]:
    """PostgreSQL, the outside world faked."""
    extra = fake_service_env(fake_twilio, fake_openai)
    with configured(database_url=pg_url, amqp_url="", var_dir=str(tmp_path), **extra) as settings:
        yield settings


#: The statements the interleavings wait in.
_DELETE_DELIVERIES = "DELETE FROM webhook_deliveries%"
_INSERT_ERASED_CALL = "INSERT INTO erased_calls%"
_CALL_LOCK = "SELECT pg_advisory_xact_lock%"
_LOCK_RECORDING = "SELECT recordings.%FOR UPDATE%"
_DELETE_REMINDERS = "DELETE FROM reminders%"
_INSERT_ERASURE = "INSERT INTO erasures%"
_DIAL_LOCK = "SELECT pg_advisory_xact_lock_shared%"
_REQUEST_LOCK = "SELECT pg_advisory_xact_lock(%"
_LOCK_LEAD = "SELECT leads.%FOR UPDATE%"


@contextmanager
def _request_held_at_its_insert(
    pool: ThreadPoolExecutor, business_id: int, phone: str
) -> Iterator[Future[Requested]]:
    """A request for ``phone`` submitted to ``pool`` and held at its insert (a conflicting
    erasure, uncommitted, holds it) until the block ends; then its insert goes through."""
    with tenant_session(business_id) as holder:
        holder.add(
            Erasure(
                business_id=business_id,
                phone=phone,
                phone_hash=phone_hash(business_id, phone),
                counts={},
            )
        )
        holder.flush()
        request = pool.submit(request_erasure, business_id, phone)
        until_waiting(_INSERT_ERASURE, request, what="the request held at its insert")
        yield request
        holder.rollback()


def _new_call(person: Person) -> str:
    """A call of the person's that began after the erasure started (not in its first look)."""
    call_sid = sid("CA")
    add(
        person.business_id,
        CallLog(business_id=person.business_id, call_sid=call_sid, from_number=person.phone),
    )
    return call_sid


def test_an_attach_after_the_erasure_looked_at_the_recordings_is_refused(
    env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The erasure has started; the person's new call is recorded; the erasure's calls step
    is held (an insert of the call's hash it must wait for) while the whole recording job
    runs. The job's attach waits for the erasure's calls step, then finds the call erased:
    nothing of the recording is left, here or at Twilio."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, erasure_id = person.business_id, person.world.erasure_id
    fake_openai.transcript = "I am Dana Smith"
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:  # holds the erasure at its first step
            holder.execute(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.business_id == bid)
                .with_for_update()
            ).all()
            erasure = pool.submit(run_erasure, bid, erasure_id, adapters)
            until_waiting(_DELETE_DELIVERIES, erasure, what="the erasure held at its first step")
            call_sid = _new_call(person)
            with tenant_session(bid) as calls_holder:  # holds the erasure's calls step
                calls_holder.add(
                    ErasedCall(
                        business_id=bid,
                        call_sid_hash=call_sid_hash(bid, call_sid),
                        erasure_id=erasure_id,
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
                calls_holder.flush()
                holder.rollback()  # the erasure goes on, to its calls step
                until_waiting(
                    _INSERT_ERASED_CALL, erasure, what="the erasure held at its calls step"
                )
                late = fake_twilio.add_recording(b"RIFF the person's voice", call_sid=call_sid)
                job = pool.submit(
                    process_recording,
                    bid,
                    adapters,
                    recording_sid=late,
                    call_sid=call_sid,
                    recording_url=fake_twilio.recording_url(late),
                    duration_s=3,
                )
                until_waiting(_CALL_LOCK, erasure, job, what="the attach waiting on the call")
                calls_holder.rollback()  # the erasure's own insert goes through
            assert erasure.result(timeout=30) is True
            assert job.result(timeout=30) is False

    assert fake_twilio.recordings[late].deleted
    assert not adapters.storage.exists(f"{bid}/{late}.wav")
    with tenant_session(bid) as session:
        assert session.execute(select(Recording.id)).first() is None
        assert session.execute(select(CallLog.id)).first() is None
    assert traces(bid, person.phone, call_sid, "Dana") == []


def test_an_attach_under_way_when_the_erasure_comes_is_removed_by_it(
    env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The job's attach has the call's lock (it waits on the recording's row, held here)
    when the erasure starts: the erasure waits for it, then removes what it attached."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, call_sid = person.business_id, person.world.call_sid
    # Transcribed: the job's next step is the attach.
    late = late_recording(person, fake_twilio, adapters.storage, transcript="I am Dana Smith")
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:
            holder.execute(
                select(Recording.id).where(Recording.recording_sid == late).with_for_update()
            ).one()
            job = pool.submit(
                process_recording, bid, adapters, recording_sid=late, call_sid=call_sid
            )
            until_waiting(_LOCK_RECORDING, job, what="the attach waiting on the recording")
            erasure = pool.submit(run_erasure, bid, person.world.erasure_id, adapters)
            until_waiting(_CALL_LOCK, job, erasure, what="the erasure waiting on the call")
        assert job.result(timeout=30) is True  # attached first
        assert erasure.result(timeout=30) is True

    assert fake_twilio.recordings[late].deleted and not adapters.storage.exists(f"{bid}/{late}.wav")
    with tenant_session(bid) as session:
        assert session.execute(select(Recording.id)).first() is None
        assert session.execute(select(CallLog.id)).first() is None
    assert traces(bid, person.phone, call_sid, "Dana") == []


def _running(person: Person, **item: object) -> int:
    """The person's outbound item (its columns set to ``item``) in a running run that tries a
    busy lead again at once; the run's id."""
    with tenant_session(person.business_id) as session:
        row = session.get(OutboundItem, person.item_id)
        assert row is not None
        for column, value in item.items():
            setattr(row, column, value)
        run = session.get(OutboundRun, row.run_id)
        assert run is not None
        run.status, run.retry_policy = "running", {"max_attempts": 3, "retry_delay_s": 0}
        return int(run.id)


def _calling(person: Person) -> int:
    """The person's outbound item is ringing them on the person's call, in a running run that
    tries a busy lead again at once; the run's id."""
    return _running(
        person,
        status="in_progress",
        call_sid=person.world.call_sid,
        last_call_status="ringing",
        attempts=1,
        calls_placed=1,
        placed_at=utcnow(),
    )


def _drive(bid: int, run_id: int, adapters: Adapters) -> str:
    """One tick of the run's driver, as the driver job runs it."""
    urls = CallUrls("https://gateway.example.com")
    return drive_run(bid, run_id, owner="test", twilio=adapters.twilio, urls=urls, budget_s=1)


def _assert_closed_uncalled(person: Person, fake_twilio: FakeTwilioServer) -> None:
    """The item is closed as the erasure closes the person's items still to be dialed, and
    no call went to the person."""
    assert person.phone not in [call.params.get("To") for call in fake_twilio.calls.values()]
    with tenant_session(person.business_id) as session:
        item = session.get(OutboundItem, person.item_id)
        assert item is not None
        assert (item.status, item.error, item.phone) == ("cancelled", ERASED_ITEM, "")
        assert (item.attempts, item.last_call_status) == (1, "ringing")  # not moved
    assert traces(person.business_id, person.phone, "Dana") == []


def test_a_busy_of_the_erased_call_while_the_erasure_runs_never_calls_the_person_again(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """The erasure has remembered the person's call and is held before it blanks their
    outbound item; the call ends busy and the run's driver ticks meanwhile. The item is
    closed, not put back to be dialed: no call goes to the person, the run completes."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, call_sid = person.business_id, person.world.call_sid
    run_id = _calling(person)
    with ThreadPoolExecutor(1) as pool:
        with tenant_session(bid) as holder:  # holds the erasure before its outbound step
            holder.execute(
                select(Reminder.id).where(Reminder.business_id == bid).with_for_update()
            ).all()
            erasure = pool.submit(run_erasure, bid, person.world.erasure_id, adapters)
            until_waiting(_DELETE_REMINDERS, erasure, what="the erasure held at its reminders")
            busy = apply_call_status(bid, run_id, person.item_id, call_sid, "busy")
            tick = _drive(bid, run_id, adapters)
        assert erasure.result(timeout=30) is True

    assert fake_twilio.calls == {}
    assert (busy, tick) == ("cancelled", "completed")
    _assert_closed_uncalled(person, fake_twilio)


def test_statuses_of_an_erased_call_after_the_erasure_move_its_item_only_to_its_close(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """After the erasure, the call's late statuses: a ringing moves nothing, a no-answer
    (which would have put the item back to be dialed) closes it, a late answer moves nothing
    either; the driver then completes the run without a call."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, call_sid = person.business_id, person.world.call_sid
    run_id = _calling(person)
    assert run_erasure(bid, person.world.erasure_id, adapters) is True

    applied = [
        apply_call_status(bid, run_id, person.item_id, call_sid, status)
        for status in ("in-progress", "no-answer", "completed", "ringing")
    ]

    assert applied == [None, "cancelled", None, None]
    assert _drive(bid, run_id, adapters) == "completed"
    assert fake_twilio.calls == {}
    _assert_closed_uncalled(person, fake_twilio)


def _item(person: Person) -> OutboundItem:
    with tenant_session(person.business_id) as session:
        item = session.get(OutboundItem, person.item_id)
        assert item is not None
        return item


def _assert_never_dialed(person: Person, fake_twilio: FakeTwilioServer) -> None:
    """The person's item was closed as the erasure closes it, no call placed to them."""
    assert fake_twilio.calls == {}
    item = _item(person)
    assert (item.status, item.error, item.call_sid) == ("cancelled", ERASED_ITEM, None)
    assert item.calls_placed == 0


#: Where the erasure is when the driver ticks: accepted, its job not started (the world's
#: erasure is pending); held at its first step; held at the step before its outbound step.
_ERASURE_HELD_AT = {
    "accepted": None,
    "first step": (WebhookDelivery, _DELETE_DELIVERIES),
    "before its outbound step": (Reminder, _DELETE_REMINDERS),
}


def _dialing(person: Person, dials: str) -> dict[str, object]:
    """The item's columns for what it dials: the person's number, or the number their lead
    had when the run was made (the lead's number changed since: the erasure finds the item
    through the lead, not by its number)."""
    return {} if dials == "the number" else {"phone": unique_phone()}


#: What the person's item dials.
_DIALS = ["the number", "the lead's old number"]


@pytest.mark.parametrize("dials", _DIALS)
@pytest.mark.parametrize("held_at", list(_ERASURE_HELD_AT))
def test_the_driver_ticking_while_the_erasure_is_under_way_never_calls_the_person(
    env: Settings, fake_twilio: FakeTwilioServer, held_at: str, dials: str
) -> None:
    """The person's item is due in a running run; the driver ticks once the erasure is
    accepted, before its job runs or while it is held between its steps. The item is closed,
    never dialed, and the run completes; the erasure then blanks it. So too when the item
    dials the number the person's lead had before: the erasure closes it as the lead's."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid = person.business_id
    run_id = _running(person, **_dialing(person, dials))
    number = _item(person).phone
    held = _ERASURE_HELD_AT[held_at]
    if held is None:
        tick = _drive(bid, run_id, adapters)
        assert run_erasure(bid, person.world.erasure_id, adapters) is True
    else:
        model, statement = held
        with ThreadPoolExecutor(1) as pool:
            with tenant_session(bid) as holder:
                holder.execute(
                    select(model.id).where(model.business_id == bid).with_for_update()
                ).all()
                erasure = pool.submit(run_erasure, bid, person.world.erasure_id, adapters)
                until_waiting(statement, erasure, what=f"the erasure held at its {held_at}")
                tick = _drive(bid, run_id, adapters)
            assert erasure.result(timeout=30) is True

    assert tick == "completed"
    _assert_never_dialed(person, fake_twilio)
    assert (_item(person).phone, _item(person).attempts) == ("", 1)  # claimed once, closed
    assert traces(bid, person.phone, number, "Dana") == []


def _claimed(person: Person, **item: object) -> int:
    """The person's item (its columns set to ``item``) claimed by the run's driver
    (``dialing``, committed), holding the run's lease, with no erasure of the person yet; the
    run's id."""
    bid = person.business_id
    with tenant_session(bid) as session:
        session.execute(delete(Erasure).where(Erasure.id == person.world.erasure_id))
    run_id = _running(person, **item)
    with tenant_session(bid) as session:
        run = session.get(OutboundRun, run_id)
        assert run is not None
    assert acquire_lease(bid, run_id, "test")
    assert claim_item(bid, run) == person.item_id
    return run_id


def _dial(person: Person, run_id: int, adapters: Adapters, item_id: int | None = None) -> bool:
    """The driver's dial of the claimed item (the person's unless ``item_id``), as its tick
    runs it."""
    return dial(
        person.business_id,
        run_id,
        item_id or person.item_id,
        owner="test",
        twilio=adapters.twilio,
        urls=CallUrls("https://gateway.example.com"),
        retries=DialRetries(),
        sleep=lambda _: None,
    )


@pytest.mark.parametrize("dials", _DIALS)
def test_a_request_under_way_when_the_claimed_item_is_dialed_goes_first_and_no_call_is_placed(
    env: Settings, fake_twilio: FakeTwilioServer, dials: str
) -> None:
    """The item was claimed before the request; the request is held at its insert (a
    conflicting erasure, uncommitted, holds it) when the dial comes. The dial waits for the
    request on the number's lock, then finds the person under erasure: no call. So too when
    the item dials the lead's old number: the dial takes the lock of its lead's number too."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid = person.business_id
    run_id = _claimed(person, **_dialing(person, dials))
    number = _item(person).phone
    with ThreadPoolExecutor(2) as pool:
        with _request_held_at_its_insert(pool, bid, person.phone) as request:
            dialed = pool.submit(_dial, person, run_id, adapters)
            until_waiting(_DIAL_LOCK, request, dialed, what="the dial waiting on the number")
        assert request.result(timeout=30).repeated is False
        assert dialed.result(timeout=30) is True

    _assert_never_dialed(person, fake_twilio)
    assert _item(person).phone == number  # the erasure's job blanks it


@pytest.mark.parametrize("dials", _DIALS)
def test_a_dial_under_way_when_the_request_comes_is_placed_before_the_request_is_accepted(
    env: Settings, fake_twilio: FakeTwilioServer, dials: str
) -> None:
    """Twilio holds the dial's call; the request for the person waits on the number's lock
    until the dial has recorded its call: the call went out before the request was accepted,
    never after. So too when the item dials the lead's old number."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid = person.business_id
    run_id = _claimed(person, **_dialing(person, dials))
    number = _item(person).phone
    fake_twilio.hold_next("create_call")
    with ThreadPoolExecutor(2) as pool:
        dialed = pool.submit(_dial, person, run_id, adapters)
        wait_for(lambda: fake_twilio.held or dialed.done(), what="Twilio holding the call")
        request = pool.submit(request_erasure, bid, person.phone)
        until_waiting(_REQUEST_LOCK, request, dialed, what="the request waiting on the dial")
        fake_twilio.release()
        assert dialed.result(timeout=30) is True
        assert request.result(timeout=30).repeated is False

    [call] = fake_twilio.calls.values()
    assert call.params["To"] == number
    item = _item(person)
    assert (item.status, item.call_sid) == ("in_progress", call.sid)


def _lead_phone(business_id: int, lead_id: int) -> str:
    with tenant_session(business_id) as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        return lead.phone


def test_once_accepted_the_lead_s_item_on_its_old_number_is_never_dialed_another_lead_s_is(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """The person's lead had another number when the run was made: its item dials that one.
    Once the request for the person's number is accepted, the claimed item is closed, never
    dialed, while another lead's item of the same run is dialed; the erasure then blanks the
    person's item, closed as it closes their items, and leaves the other lead's alone."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid = person.business_id
    old = unique_phone()
    run_id = _claimed(person, phone=old)
    other_phone = _lead_phone(bid, person.kept_lead_id)
    other = add(
        bid,
        OutboundItem(
            business_id=bid, run_id=run_id, lead_id=person.kept_lead_id, phone=other_phone
        ),
    )
    erasure = request_erasure(bid, person.phone).erasure

    assert _dial(person, run_id, adapters) is True
    _assert_never_dialed(person, fake_twilio)
    with tenant_session(bid) as session:
        run = session.get(OutboundRun, run_id)
        assert run is not None
    assert claim_item(bid, run) == other.id
    assert _dial(person, run_id, adapters, other.id) is True
    [call] = fake_twilio.calls.values()
    assert call.params["To"] == other_phone

    assert run_erasure(bid, erasure.id, adapters) is True
    item = _item(person)
    assert (item.status, item.error, item.phone) == ("cancelled", ERASED_ITEM, "")
    assert (item.call_sid, item.calls_placed) == (None, 0)
    with tenant_session(bid) as session:
        kept = session.get(OutboundItem, other.id)
        assert kept is not None
        assert (kept.status, kept.phone, kept.call_sid) == ("in_progress", other_phone, call.sid)
    assert traces(bid, person.phone, old, "Dana") == []


def test_a_pending_item_of_the_lead_on_its_old_number_is_closed_by_the_erasure(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """The person's item, still to be dialed, dials the number the lead had before: the
    erasure's outbound step closes and blanks it as the person's, and the run then completes
    with no call."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid = person.business_id
    old = unique_phone()
    with tenant_session(bid) as session:
        item = session.get(OutboundItem, person.item_id)
        assert item is not None
        item.phone = old
    assert run_erasure(bid, person.world.erasure_id, adapters) is True

    item = _item(person)
    assert (item.status, item.error, item.phone, item.attempts) == ("cancelled", ERASED_ITEM, "", 0)
    assert traces(bid, person.phone, old, "Dana") == []


#: The changes of the lead a dial holding the lead's row holds (at its lock, ``_LOCK_LEAD``).
_LEAD_CHANGES = ["its number changed", "deleted"]


@pytest.mark.parametrize("change", _LEAD_CHANGES)
def test_a_dial_under_way_holds_its_lead_until_its_call_is_recorded(
    env: Settings, fake_twilio: FakeTwilioServer, change: str
) -> None:
    """Twilio holds the dial's call; the lead's number changing, or the lead deleted, waits
    for the dial (its row held ``FOR SHARE``: the numbers the dial looked under stay the
    lead's), then goes through; a deletion takes the lead's row before its items, as the dial
    does, so neither waits for the other in a cycle."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, lead_id = person.business_id, person.world.lead_id
    run_id = _claimed(person)
    fake_twilio.hold_next("create_call")
    with ThreadPoolExecutor(2) as pool:
        dialed = pool.submit(_dial, person, run_id, adapters)
        wait_for(lambda: fake_twilio.held or dialed.done(), what="Twilio holding the call")
        if change == "deleted":
            changed = pool.submit(leads_store.delete_lead, bid, lead_id)
        else:
            changed = pool.submit(leads_store.update_lead, bid, lead_id, {"phone": unique_phone()})
        until_waiting(_LOCK_LEAD, changed, dialed, what="the change waiting on the dial")
        fake_twilio.release()
        assert dialed.result(timeout=30) is True
        changed.result(timeout=30)

    [call] = fake_twilio.calls.values()
    assert call.params["To"] == person.phone
    with tenant_session(bid) as session:
        item = session.get(OutboundItem, person.item_id)
    if change == "deleted":
        assert item is None
    else:
        assert item is not None and (item.status, item.call_sid) == ("in_progress", call.sid)


@pytest.mark.parametrize("run_status", ["running", "cancelled"])
def test_a_dial_of_unknown_outcome_of_an_erased_person_is_closed_not_looked_up(
    env: Settings, fake_twilio: FakeTwilioServer, run_status: str
) -> None:
    """The person's item is ``dialing`` with no call (its dial got no answer) when the
    erasure blanks its number: the next tick, or the cancelled run's settling, closes it as
    the erasure's (Twilio is not asked about a blank number) and the run can end."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid = person.business_id
    run_id = _running(person, status="dialing", attempts=1, updated_at=utcnow())
    if run_status == "cancelled":
        with tenant_session(bid) as session:
            run = session.get(OutboundRun, run_id)
            assert run is not None
            run.status, run.finished_at = "cancelled", utcnow()
    assert run_erasure(bid, person.world.erasure_id, adapters) is True
    assert (_item(person).status, _item(person).phone) == ("dialing", "")

    tick = _drive(bid, run_id, adapters)

    assert tick == ("completed" if run_status == "running" else "cancelled")
    _assert_never_dialed(person, fake_twilio)
    assert traces(bid, person.phone, "Dana") == []


def assert_names_the_erasure_not_the_number(
    refusal: Exception, erasure_id: int, number: str
) -> None:
    """A refusal for a number being erased names the erasure, never the number."""
    assert f"erasure {erasure_id}" in str(refusal)
    assert number not in str(refusal)


def test_a_lead_s_number_changed_while_a_request_for_it_is_under_way_waits_and_is_refused(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """The request for a number is held at its insert (a conflicting erasure, uncommitted,
    holds it) when another lead's number is changed to it: the change waits on the number's
    lock, then finds the erasure and is refused; the lead keeps its number."""
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, lead_id = person.business_id, person.kept_lead_id
    before = _lead_phone(bid, lead_id)
    number = unique_phone()
    with ThreadPoolExecutor(2) as pool:
        with _request_held_at_its_insert(pool, bid, number) as request:
            changed = pool.submit(leads_store.update_lead, bid, lead_id, {"phone": number})
            until_waiting(_DIAL_LOCK, request, changed, what="the change waiting on the number")
        erasure = request.result(timeout=30)
        with pytest.raises(ConflictError, match="being erased") as refused:
            changed.result(timeout=30)

    assert erasure.repeated is False
    assert_names_the_erasure_not_the_number(refused.value, erasure.erasure.id, number)
    assert _lead_phone(bid, lead_id) == before


#: A write of a lead that takes or leaves the number (the person's lead has it).
_LEAD_WRITES = ["its number changed from it", "a lead created with it"]


@pytest.mark.parametrize("write", _LEAD_WRITES)
def test_a_lead_leaving_or_taking_a_number_a_request_is_under_way_for_waits_and_is_refused(
    env: Settings, fake_twilio: FakeTwilioServer, write: str
) -> None:
    """The request for the person's number is held at its insert when the person's lead is
    moved to another number, or a lead is created with the person's number: the write waits
    on the number's lock, then finds the erasure and is refused; the lead keeps its number,
    and no other lead has it."""
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, lead_id = person.business_id, person.world.lead_id
    with tenant_session(bid) as session:  # the world's own pending erasure, not yet requested
        session.execute(delete(Erasure).where(Erasure.id == person.world.erasure_id))
        if write == "a lead created with it":  # the number is no lead's yet
            session.execute(delete(OutboundItem).where(OutboundItem.lead_id == lead_id))
            session.execute(delete(Lead).where(Lead.id == lead_id))
    with ThreadPoolExecutor(2) as pool:
        with _request_held_at_its_insert(pool, bid, person.phone) as request:
            if write == "a lead created with it":
                written = pool.submit(leads_store.create_lead, bid, person.phone, name="Dana")
            else:
                written = pool.submit(
                    leads_store.update_lead, bid, lead_id, {"phone": unique_phone()}
                )
            until_waiting(_DIAL_LOCK, request, written, what="the write waiting on the number")
        erasure = request.result(timeout=30)
        with pytest.raises(ConflictError, match="being erased") as refused:
            written.result(timeout=30)

    assert erasure.repeated is False
    assert_names_the_erasure_not_the_number(refused.value, erasure.erasure.id, person.phone)
    with tenant_session(bid) as session:
        holders = session.execute(
            select(Lead.id).where(Lead.business_id == bid, Lead.phone == person.phone)
        ).scalars()
        assert list(holders) == ([] if write == "a lead created with it" else [lead_id])


def test_of_two_changes_of_a_lead_s_number_the_second_checks_the_number_the_first_gave_it(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """A change of the lead's number to one whose lock is held (``C``) holds the lead's row
    while it waits; a second change (to ``B``) waits for that row before it reads the number
    it moves the lead from. A request for ``B`` accepted meanwhile is found: the first change
    goes through, and the second, leaving ``C`` for ``B``, is refused. Without the row's lock,
    the second would read the lead's number before the first had changed it and commit ``B``
    first, and the first would then move the lead from ``B`` to ``C``, checking the stale
    number, while ``B``'s erasure was under way."""
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, lead_id = person.business_id, person.kept_lead_id
    first, second = unique_phone(), unique_phone()
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:  # holds the first change at its new number's lock
            lock_number(holder, bid, first, shared=False)
            changed_first = pool.submit(leads_store.update_lead, bid, lead_id, {"phone": first})
            until_waiting(_DIAL_LOCK, changed_first, what="the first change held at its number")
            changed_second = pool.submit(leads_store.update_lead, bid, lead_id, {"phone": second})
            until_waiting(
                _LOCK_LEAD, changed_first, changed_second, what="the second waiting on the lead"
            )
            erasure = request_erasure(bid, second)
            holder.rollback()
        assert changed_first.result(timeout=30).phone == first
        with pytest.raises(ConflictError, match="being erased") as refused:
            changed_second.result(timeout=30)

    assert erasure.repeated is False
    assert_names_the_erasure_not_the_number(refused.value, erasure.erasure.id, second)
    assert _lead_phone(bid, lead_id) == first


#: A CSV import waiting on the business's import lock (it takes it exclusive).
_IMPORT_LOCK = _REQUEST_LOCK
_INSERT_LEAD = "INSERT INTO leads%"


def _leads_with(business_id: int, *phones: str) -> list[str]:
    with tenant_session(business_id) as session:
        found = session.execute(
            select(Lead.phone).where(Lead.business_id == business_id, Lead.phone.in_(phones))
        ).scalars()
        return sorted(found)


def test_a_csv_import_while_a_request_for_one_of_its_numbers_is_under_way_waits_and_imports_nothing(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """The request for a number is held at its insert when a CSV import with that number
    starts: the import waits on the business's import lock, then finds the erasure and
    imports none of its rows. Without the lock it would look before the request committed,
    find nothing, and give a lead the number being erased."""
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, number, other = person.business_id, unique_phone(), unique_phone()
    rows = [{"phone": other, "name": "Ana"}, {"phone": number, "name": "Dana"}]
    with ThreadPoolExecutor(2) as pool:
        with _request_held_at_its_insert(pool, bid, number) as request:
            imported = pool.submit(leads_store.import_leads, bid, rows)
            until_waiting(_IMPORT_LOCK, request, imported, what="the import waiting")
        erasure = request.result(timeout=30)
        result = imported.result(timeout=30)

    assert erasure.repeated is False
    assert result == leads_store.ImportResult(0, 0, {number: erasure.erasure.id})
    assert _leads_with(bid, number, other) == []


def test_a_request_while_a_csv_import_with_its_number_is_under_way_waits_then_erases_its_lead(
    env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """A CSV import with the number is held at its insert of the number's lead (an
    uncommitted lead with it holds it) when the request comes: the request waits on the
    business's import lock until the import commits, and is then accepted; its erasure
    erases the lead the import made. Without the lock the request would be accepted at
    once, and the import, past its look for erasures, could still commit the lead after the
    erasure had looked for the person's leads."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, number = person.business_id, unique_phone()
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:
            holder.add(Lead(business_id=bid, phone=number, name="Held", source="api"))
            holder.flush()
            imported = pool.submit(leads_store.import_leads, bid, [{"phone": number}])
            until_waiting(_INSERT_LEAD, imported, what="the import held at its insert")
            request = pool.submit(request_erasure, bid, number)
            until_waiting(_DIAL_LOCK, imported, request, what="the request waiting")
            holder.rollback()
        result = imported.result(timeout=30)
        erasure = request.result(timeout=30)

    assert result == leads_store.ImportResult(1, 0)
    assert erasure.repeated is False
    assert _leads_with(bid, number) == [number]  # until the erasure runs
    assert run_erasure(bid, erasure.erasure.id, adapters) is True
    assert _leads_with(bid, number) == []
