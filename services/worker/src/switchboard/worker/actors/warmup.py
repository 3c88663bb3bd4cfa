"""Warm-up jobs: a business's prompts and the process's adapters, ready before they are needed."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import WARMUP_AGENTS, WARMUP_BUSINESS, WARMUP_LAZY_SERVICES
from switchboard.domain.businesses import warmup


@job_actor(WARMUP_AGENTS)
def warmup_agents_job(*, business_id: int) -> None:
    """Build whatever prompt the business's agents are still missing."""
    warmup.warmup_agents(business_id)


@job_actor(WARMUP_BUSINESS)
def warmup_business_job(*, business_id: int) -> None:
    """A new or changed business: build all its prompts."""
    warmup.warmup_business(business_id)


@job_actor(WARMUP_LAZY_SERVICES)
def warmup_lazy_services_job(*, business_id: int) -> None:
    """Construct this worker's outside-world clients before the first real job."""
    warmup.warmup_lazy_services(business_id, adapters())
