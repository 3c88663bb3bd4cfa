"""Analysis jobs: lead fields from a call or a WhatsApp conversation."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import ANALYZE_CONVERSATION
from switchboard.common.models import CallLog, WhatsAppConversation
from switchboard.domain.analysis.conversations import analyze_conversation
from switchboard.worker.actors._erased import unless_erased
from switchboard.worker.bootstrap import stores


@job_actor(ANALYZE_CONVERSATION)
@unless_erased(conversation_id=WhatsAppConversation, call_log_id=CallLog)
def analyze_conversation_job(
    *, business_id: int, conversation_id: int | None = None, call_log_id: int | None = None
) -> None:
    """Extract name, e-mail, intent and status into the lead (give one of the two ids). The
    fields are written in one transaction after the AI call: a worker dying mid-way has
    written nothing, and the redelivery asks the AI again. A WhatsApp reply writes its lead's
    fields itself (migration 0021): ``conversation_id`` is for jobs queued before that."""
    analyze_conversation(
        business_id,
        adapters().ai_text,
        stores().analysis,
        conversation_id=conversation_id,
        call_log_id=call_log_id,
    )
