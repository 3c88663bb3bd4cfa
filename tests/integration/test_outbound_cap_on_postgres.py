"""The business-wide cap on calls in flight holds across runs driven at the same time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.engine import get_engine
from switchboard.common.integrations.twilio_rest import FakeTwilioRest, PlacedCall
from switchboard.common.jobs.broker import get_broker
from switchboard.common.models import Business, OutboundItem
from switchboard.domain.outbound import CallUrls, runs
from switchboard.domain.outbound.calls import apply_call_status
from switchboard.domain.outbound.driver import drive_run
from switchboard.domain.outbound.progress import IN_FLIGHT
from tests.support.factories import make_business
from tests.unit.outbound.test_outbound_runs import leads_for

CAP = 2
RUNS = 4
LEADS_PER_RUN = 15


@dataclass
class PeakTwilio(FakeTwilioRest):
    """Twilio that notes, as each call is placed, how many of the business's calls are in
    flight (the item being dialed among them)."""

    business_id: int = 0
    peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def place_call(self, to: str, from_: str, url: str, **options: Any) -> PlacedCall:
        self.note_in_flight()
        return super().place_call(to, from_, url, **options)

    def note_in_flight(self) -> None:
        in_flight = _in_flight(self.business_id)
        with self._lock:
            self.peak = max(self.peak, in_flight)


def _in_flight(business_id: int) -> int:
    # Its own connection: the caller is inside the driver's transaction.
    with get_engine().connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM outbound_items "
                    "WHERE business_id = :b AND status IN ('dialing', 'in_progress')"
                ),
                {"b": business_id},
            ).scalar_one()
        )


@pytest.fixture
def outbound_queue(pg) -> Iterator[None]:
    get_broker().declare_queue("outbound")  # start_run enqueues a driver nobody runs here
    yield


def _answer_calls(
    business_id: int, twilio: PeakTwilio, stop: threading.Event, errors: list[BaseException]
) -> None:
    """Play Twilio's callbacks: end every call in progress, a moment after it was placed."""
    try:
        while not stop.is_set():
            twilio.note_in_flight()
            with tenant_session(business_id) as session:
                live = session.execute(
                    select(OutboundItem.run_id, OutboundItem.id, OutboundItem.call_sid).where(
                        OutboundItem.business_id == business_id,
                        OutboundItem.status == "in_progress",
                    )
                ).all()
            for run_id, item_id, call_sid in live:
                apply_call_status(business_id, run_id, item_id, call_sid, "completed")
            time.sleep(0.003)
    except BaseException as exc:
        errors.append(exc)


def _drive(business_id: int, run_id: int, twilio: PeakTwilio, errors: list[BaseException]):
    try:
        for tick in range(200):
            outcome = drive_run(
                business_id,
                run_id,
                owner=f"test-{run_id}-{tick}",
                twilio=twilio,
                urls=CallUrls("http://gateway.test"),
                budget_s=5,
                poll_s=0.001,
            )
            if outcome != "continue":
                assert outcome == "completed", outcome
                return
        raise AssertionError(f"run {run_id} did not complete")
    except BaseException as exc:
        errors.append(exc)


def test_runs_driven_at_once_never_exceed_the_business_cap(pg, outbound_queue) -> None:
    business = make_business()
    with system_session() as session:
        session.execute(
            update(Business).where(Business.id == business.id).values(outbound_concurrency_cap=CAP)
        )
    lead_ids = leads_for(business.id, RUNS * LEADS_PER_RUN)
    run_ids = []
    for first in range(0, len(lead_ids), LEADS_PER_RUN):
        part = lead_ids[first : first + LEADS_PER_RUN]
        new = runs.NewRun(name="r", lead_ids=part, concurrency=CAP)
        run_ids.append(runs.create_run(business.id, new).run.id)
        runs.start_run(business.id, run_ids[-1])
    twilio = PeakTwilio(business_id=business.id)
    errors: list[BaseException] = []
    stop = threading.Event()
    answerer = threading.Thread(target=_answer_calls, args=(business.id, twilio, stop, errors))
    drivers = [
        threading.Thread(target=_drive, args=(business.id, run_id, twilio, errors))
        for run_id in run_ids
    ]
    answerer.start()
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join(120)
    stop.set()
    answerer.join(10)
    assert not errors, errors
    assert len(twilio.calls) == RUNS * LEADS_PER_RUN
    assert twilio.peak <= CAP, f"{twilio.peak} calls in flight with a cap of {CAP}"
    with tenant_session(business.id) as session:
        left = session.scalar(
            select(func.count())
            .select_from(OutboundItem)
            .where(OutboundItem.business_id == business.id, OutboundItem.status.in_(IN_FLIGHT))
        )
    assert left == 0
