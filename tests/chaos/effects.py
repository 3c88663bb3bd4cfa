"""Enqueueing the effect actor's jobs and counting their effects in the data."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.common.db import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import ActorSpec
from tests.chaos.actors import EFFECT
from tests.chaos.stack import Stack

BATCH = 500


def enqueue_effects(
    business_id: int, n: int, *, publish: bool = True, spec: ActorSpec = EFFECT
) -> list[str]:
    """``n`` effect jobs, ``BATCH`` to a transaction; ``publish=False``: committed but never
    published, as when the process that wrote them dies right after its commit."""
    job_ids: list[str] = []
    for start in range(0, n, BATCH):
        with tenant_session(business_id) as session:
            for _ in range(min(BATCH, n - start)):
                job_ids.append(enqueue(spec, business_id=business_id).job_id)
            if not publish:
                session.info.pop("outbox_pending", None)
    return job_ids


@dataclass(frozen=True)
class Effects:
    """What the effect table says about a set of jobs."""

    applied: int  # jobs whose effect is recorded
    lost: int  # jobs with no effect recorded
    twice: int  # jobs whose effect is recorded more than once
    reruns: int  # runs that found their effect already recorded


def count_effects(stack: Stack, job_ids: list[str]) -> Effects:
    rows = stack.query(
        "SELECT job_id, count(*), sum(reruns) FROM chaos_effects"
        " WHERE job_id = ANY(%s) GROUP BY job_id",
        (job_ids,),
    )
    return Effects(
        applied=len(rows),
        lost=len(set(job_ids) - {job_id for job_id, _, _ in rows}),
        twice=sum(1 for _, count, _ in rows if count > 1),
        reruns=sum(int(reruns) for _, _, reruns in rows),
    )


def applied_count(stack: Stack, business_id: int) -> int:
    [(count,)] = stack.query(
        "SELECT count(DISTINCT job_id) FROM chaos_effects WHERE business_id = %s", (business_id,)
    )
    return int(count)


def ledger_of(stack: Stack, job_ids: list[str]) -> dict[str, tuple[str, int, str | None]]:
    """Each job's (status, deliveries, last error)."""
    rows = stack.query(
        "SELECT id, status, deliveries, last_error FROM jobs WHERE id = ANY(%s)", (job_ids,)
    )
    return {job_id: (status, int(deliveries), error) for job_id, status, deliveries, error in rows}
