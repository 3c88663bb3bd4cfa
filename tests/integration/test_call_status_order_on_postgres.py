"""On PostgreSQL, status callbacks for one call applied at the same time by several writers
leave the furthest status, whatever order their transactions commit in."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from switchboard.common.settings import Settings
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.calls import apply_call_status
from tests.support.factories import make_business
from tests.unit.outbound.test_call_status_order import CALL_SID, placed_item


def test_concurrent_progress_callbacks_never_leave_an_earlier_status(pg: Settings) -> None:
    business = make_business()
    run_id, item_id = placed_item(business.id)
    statuses = ["queued", "initiated", "ringing", "in-progress"] * 5
    random.Random(7).shuffle(statuses)

    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda status: apply_call_status(business.id, run_id, item_id, CALL_SID, status),
                statuses,
            )
        )

    (item,) = runs.list_items(business.id, run_id)
    assert (item.status, item.last_call_status) == ("in_progress", "in-progress")
