"""Twilio's status callbacks for a call can be processed out of order: an item's
``last_call_status`` never moves backwards, and a final status always wins."""

from __future__ import annotations

from sqlalchemy import update

from switchboard.common.db import tenant_session
from switchboard.common.models import OutboundItem
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.calls import apply_call_status
from tests.support.factories import make_business
from tests.unit.outbound.test_outbound_runs import leads_for

CALL_SID = "CA" + "7" * 32


def placed_item(business_id: int) -> tuple[int, int]:
    """A run's item whose call Twilio has accepted (``in_progress``, with its sid)."""
    run = runs.create_run(business_id, runs.NewRun(name="r", lead_ids=leads_for(business_id, 1)))
    (item,) = runs.list_items(business_id, run.run.id)
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == item.id)
            .values(status="in_progress", call_sid=CALL_SID, attempts=1, calls_placed=1)
        )
    return run.run.id, item.id


def _after(business_id: int, run_id: int, item_id: int, *statuses: str) -> tuple[str, str]:
    for status in statuses:
        apply_call_status(business_id, run_id, item_id, CALL_SID, status)
    (item,) = runs.list_items(business_id, run_id)
    return item.status, item.last_call_status  # type: ignore[return-value]


def test_a_late_ringing_does_not_move_an_answered_call_back(embedded) -> None:
    business = make_business()
    run_id, item_id = placed_item(business.id)

    assert _after(business.id, run_id, item_id, "in-progress", "ringing", "initiated") == (
        "in_progress",
        "in-progress",
    )


def test_statuses_in_order_each_move_the_call_forward(embedded) -> None:
    business = make_business()
    run_id, item_id = placed_item(business.id)

    seen = [_after(business.id, run_id, item_id, status)[1] for status in ("queued", "ringing")]

    assert seen == ["queued", "ringing"]
    assert _after(business.id, run_id, item_id, "in-progress") == ("in_progress", "in-progress")


def test_a_final_status_wins_over_whatever_came_before_and_stays(embedded) -> None:
    business = make_business()
    run_id, item_id = placed_item(business.id)

    assert _after(business.id, run_id, item_id, "in-progress", "completed") == (
        "completed",
        "completed",
    )
    assert _after(business.id, run_id, item_id, "ringing") == ("completed", "completed")


def test_a_final_status_arriving_first_is_not_undone_by_the_progress_behind_it(embedded) -> None:
    business = make_business()
    run_id, item_id = placed_item(business.id)

    assert _after(business.id, run_id, item_id, "no-answer", "ringing", "in-progress") == (
        "failed",
        "no-answer",
    )
