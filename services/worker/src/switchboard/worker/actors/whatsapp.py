"""WhatsApp jobs: answering inbound messages, sending replies, summarising idle sessions."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import (
    AUTO_SUMMARY_WHATSAPP_SESSION,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_WHATSAPP_MESSAGE,
    SEND_WHATSAPP_WITH_RETRY,
)
from switchboard.domain.whatsapp import concurrency, replies, sending, sessions
from switchboard.worker.actors._attempts import defer, is_final_attempt
from switchboard.worker.bootstrap import stores


@job_actor(PROCESS_WHATSAPP_WEBHOOK)
def process_whatsapp_webhook_job(*, business_id: int, message_id: int) -> None:
    """Reply to a stored inbound message, unless the business is at its concurrency limit."""
    try:
        replies.reply_to_inbound(business_id, message_id, adapters().ai_text, stores().replies)
    except concurrency.BusinessAtLimit:
        defer("business at its WhatsApp concurrency limit")


@job_actor(SEND_WHATSAPP_MESSAGE)
def send_whatsapp_message_job(*, business_id: int, message_id: int) -> None:
    """Send a stored outbound message once; a failure marks it failed."""
    sending.send_outbound(business_id, message_id, adapters().twilio, stores().sends, final=True)


@job_actor(SEND_WHATSAPP_WITH_RETRY)
def send_whatsapp_with_retry_job(*, business_id: int, message_id: int) -> None:
    """Send a stored outbound message, retried with backoff; failed after the last try."""
    final = is_final_attempt(SEND_WHATSAPP_WITH_RETRY)
    sending.send_outbound(business_id, message_id, adapters().twilio, stores().sends, final=final)


@job_actor(AUTO_SUMMARY_WHATSAPP_SESSION)
def auto_summary_whatsapp_session_job(*, business_id: int, session_id: int | None = None) -> None:
    """Summarise and close sessions idle for 15 minutes (one, or all of the business's)."""
    sessions.summarize_idle_sessions(business_id, adapters().ai_text, session_id=session_id)
