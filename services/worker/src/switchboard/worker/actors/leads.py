"""Lead jobs."""

from __future__ import annotations

from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import CREATE_LEAD
from switchboard.domain.leads.capture import capture_lead


@job_actor(CREATE_LEAD)
def create_lead_job(
    *,
    business_id: int,
    phone: str,
    name: str | None = None,
    email: str | None = None,
    source: str = "api",
) -> None:
    """Find or create the lead for ``phone`` (never two leads for one number)."""
    capture_lead(business_id, phone, name=name, email=email, source=source)
