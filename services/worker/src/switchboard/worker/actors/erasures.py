"""Erasure jobs: everything a business holds about one person, deleted on request."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import ERASE_PERSON
from switchboard.domain import erasures


@job_actor(ERASE_PERSON)
def erase_person_job(*, business_id: int, erasure_id: int) -> None:
    """Erase the person the erasure names, kind by kind; each kind's deletion and its count
    commit together, so a redelivery after a dead worker finishes the rest and counts nothing
    twice (``domain/erasures/job.py``)."""
    erasures.run_erasure(business_id, erasure_id, adapters())
