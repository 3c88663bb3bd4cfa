"""A driver tick asked to stop cancels its run between calls and ends the call in progress; one
that other jobs wait for hands over to the next tick at its first idle moment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from switchboard.common.integrations.twilio_rest import FakeTwilioRest, PlacedCall
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.errors import JobCancelled
from switchboard.common.settings import Settings
from switchboard.domain.outbound import CallUrls, runs
from switchboard.domain.outbound.driver import drive_run
from tests.support.factories import make_business
from tests.support.job_control import AskedToStop, running_as_job
from tests.unit.outbound.test_outbound_runs import leads_for


@dataclass
class CancelledWhileDialing(FakeTwilioRest):
    """Twilio whose call create takes long enough for the driver's job to be cancelled."""

    control: AskedToStop | None = None

    def place_call(self, to: str, from_: str, url: str, **options: Any) -> PlacedCall:
        assert self.control is not None
        self.control.cancel()
        return super().place_call(to, from_, url, **options)


def _started_run(business_id: int, concurrency: int) -> int:
    """A started run of three leads; its driver job waits in its queue, unrun."""
    get_broker().declare_queue("outbound")
    new = runs.NewRun(name="r", lead_ids=leads_for(business_id, 3), concurrency=concurrency)
    run_id = runs.create_run(business_id, new).run.id
    runs.start_run(business_id, run_id)
    return run_id


def _tick(business_id: int, run_id: int, twilio: FakeTwilioRest, **options: Any) -> str:
    return drive_run(
        business_id,
        run_id,
        owner="test",
        twilio=twilio,
        urls=CallUrls("http://gateway.test"),
        **options,
    )


def test_a_driver_asked_to_stop_cancels_its_run_at_the_next_call(embedded: Settings) -> None:
    business = make_business()
    run_id = _started_run(business.id, concurrency=3)
    control = AskedToStop()
    twilio = CancelledWhileDialing(control=control)
    with running_as_job(business.id, control), pytest.raises(JobCancelled):
        _tick(business.id, run_id, twilio, poll_s=0.01)
    assert [call["to"] for call in twilio.calls] == ["+14445550000"], "dialed after the cancel"
    assert twilio.ended_calls == [twilio.calls[0]["sid"]]
    view = runs.get_run(business.id, run_id)
    assert (view.run.status, view.run.end_reason) == (
        "cancelled",
        "cancelled: its driver job was cancelled",
    )
    assert (view.progress.placed, view.progress.failed, view.progress.cancelled) == (1, 1, 2)


@dataclass
class WaitedForOnceDialed(FakeTwilioRest):
    """Twilio whose call create is followed by a job waiting for the driver to make way."""

    waiting: bool = False

    def place_call(self, to: str, from_: str, url: str, **options: Any) -> PlacedCall:
        self.waiting = True
        return super().place_call(to, from_, url, **options)


def test_a_driver_other_jobs_wait_for_hands_over_instead_of_waiting_out_its_budget(
    embedded: Settings,
) -> None:
    """A job taken over from a dead worker waits to run alone in the tick's process, and no
    other job starts there meanwhile: the call statuses the tick waits for neither. The tick
    must hand over at once rather than hold them back for the rest of its 50 s."""
    business = make_business()
    run_id = _started_run(business.id, concurrency=1)
    twilio = WaitedForOnceDialed()
    sleeps: list[float] = []
    with running_as_job(business.id, AskedToStop(), waited_for=lambda: twilio.waiting):
        outcome = _tick(business.id, run_id, twilio, sleep=sleeps.append)
    assert outcome == "continue"
    assert sleeps == [], "the tick waited while other jobs waited for it"
    assert len(twilio.calls) == 1  # the line is busy: nothing more to do until a status comes
    view = runs.get_run(business.id, run_id)
    assert (view.run.status, view.run.lease_owner) == ("running", None)


def test_a_driver_nobody_waits_for_keeps_its_turn_while_the_line_is_busy(
    embedded: Settings,
) -> None:
    business = make_business()
    run_id = _started_run(business.id, concurrency=1)
    twilio = FakeTwilioRest()
    sleeps: list[float] = []
    with running_as_job(business.id, AskedToStop()):
        outcome = _tick(business.id, run_id, twilio, budget_s=0.3, poll_s=0.05, sleep=sleeps.append)
    assert outcome == "continue"
    assert sleeps and set(sleeps) == {0.05}
    assert len(twilio.calls) == 1
