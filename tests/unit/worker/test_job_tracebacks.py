"""A failed execution leaves its traceback, masked, for the operator console's job page."""

from __future__ import annotations

import dramatiq

from switchboard.domain import operations
from tests.support.factories import make_business
from tests.unit.worker.jobs import run
from tests.unit.worker.world import make_world


def test_a_failed_job_keeps_its_traceback_beside_its_one_line_error(
    worker: dramatiq.Worker,
) -> None:
    business = make_business()

    failed = run("create_lead_job", business_id=business.id, conversation_id=987_654_321)

    assert failed.status == "failed"
    assert failed.last_error is not None and "\n" not in failed.last_error
    assert failed.last_traceback is not None
    assert failed.last_traceback.startswith("Traceback (most recent call last)")
    assert "capture_contact" in failed.last_traceback  # the domain frame that raised
    assert failed.last_traceback.rstrip().endswith(failed.last_error)
    detail = operations.job_detail(business.id, failed.id)
    assert detail.traceback == failed.last_traceback


def test_a_job_that_succeeds_has_no_traceback(worker: dramatiq.Worker) -> None:
    world = make_world()

    done = run("create_lead_job", business_id=world.id, conversation_id=world.conversation_id)

    assert done.status == "succeeded" and done.last_traceback is None
