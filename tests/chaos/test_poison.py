"""Chaos (5): a job that kills its worker on every delivery is dead after N deliveries
(``JOB_MAX_UNFINISHED_DELIVERIES``), while the other jobs on its queue, in flight or
prefetched beside it each time, keep flowing and are neither lost nor dead-lettered.

The worker is restarted as soon as it dies, as a process manager would.
"""

from __future__ import annotations

import pytest

from switchboard.common.jobs import enqueue
from tests.chaos.actors import SUICIDE
from tests.chaos.effects import count_effects, enqueue_effects, ledger_of
from tests.chaos.stack import CHAOS_ENV, Stack, scale
from tests.support.factories import make_business

BYSTANDERS = scale(300, 3_000)
CAP = int(CHAOS_ENV["JOB_MAX_UNFINISHED_DELIVERIES"])


@pytest.mark.timeout(scale(180, 600))
def test_a_poison_job_dies_after_n_deliveries_and_its_queue_keeps_flowing(
    stack: Stack, report
) -> None:
    business = make_business()
    # The poison job goes in among the others: bystanders are prefetched beside it each time.
    before = enqueue_effects(business.id, BYSTANDERS // 2)
    poison = enqueue(SUICIDE, business_id=business.id).job_id
    after = enqueue_effects(business.id, BYSTANDERS - BYSTANDERS // 2)
    worker = stack.supervised_worker("chaos")
    stack.wait_settled(business.id, timeout=scale(150, 500))

    bystanders = before + after
    effects = count_effects(stack, bystanders)
    ledger = ledger_of(stack, [*bystanders, poison])
    status, deliveries, error = ledger.pop(poison)
    dead_bystanders = sum(1 for s, _, _ in ledger.values() if s != "succeeded")
    report(
        "poison",
        f"1 poison job among {BYSTANDERS}: {worker.exits} worker deaths, the poison job"
        f" {status} after {deliveries} deliveries (cap {CAP}); bystanders: {effects.applied}"
        f" applied, {effects.lost} lost, {effects.twice} applied twice,"
        f" {dead_bystanders} dead-lettered",
    )
    assert status == "dead" and "without finishing" in (error or ""), (status, error)
    # A first delivery started on the fast path and killed before its running mark costs
    # nothing (``ledger_statements.py``): one death more than the cap at most.
    assert CAP <= worker.exits <= CAP + 1
    not_succeeded = {job_id: row for job_id, row in ledger.items() if row[0] != "succeeded"}
    assert (effects.lost, effects.twice, dead_bystanders) == (0, 0, 0), not_succeeded
