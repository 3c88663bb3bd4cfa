"""Lead jobs."""

from __future__ import annotations

from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import CREATE_LEAD
from switchboard.common.models import WhatsAppConversation
from switchboard.domain.leads.capture import capture_contact
from switchboard.worker.actors._erased import unless_erased


@job_actor(CREATE_LEAD)
@unless_erased(conversation_id=WhatsAppConversation)
def create_lead_job(*, business_id: int, conversation_id: int) -> None:
    """The lead of a WhatsApp conversation's contact (never two leads for one number)."""
    capture_contact(business_id, conversation_id)
