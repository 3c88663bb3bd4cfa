"""WhatsApp jobs: answering inbound messages, sending replies, summarising idle sessions."""

from __future__ import annotations

from datetime import timedelta

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import (
    AUTO_SUMMARY_WHATSAPP_SESSION,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_WHATSAPP_MESSAGE,
    SEND_WHATSAPP_WITH_RETRY,
)
from switchboard.common.settings import get_settings
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


def _send(business_id: int, message_id: int, *, final: bool) -> None:
    """Send once. Dying mid-send leaves the message ``sending``: the redelivery looks it up at
    Twilio and, not finding it, steps back until the lookup window has passed, then sends."""
    window = timedelta(seconds=get_settings().whatsapp_send_lookup_window_s)
    try:
        sending.send_outbound(
            business_id,
            message_id,
            adapters().twilio,
            stores().sends,
            final=final,
            lookup_window=window,
        )
    except sending.SendUnsettled as unsettled:
        delay_ms = int(unsettled.retry_in.total_seconds() * 1000)
        defer(str(unsettled), min_delay_ms=delay_ms + 200, max_delay_ms=delay_ms + 1000)


@job_actor(SEND_WHATSAPP_MESSAGE)
def send_whatsapp_message_job(*, business_id: int, message_id: int) -> None:
    """Send a stored outbound message once; a failure marks it failed."""
    _send(business_id, message_id, final=True)


@job_actor(SEND_WHATSAPP_WITH_RETRY)
def send_whatsapp_with_retry_job(*, business_id: int, message_id: int) -> None:
    """Send a stored outbound message, retried with backoff; failed after the last try."""
    _send(business_id, message_id, final=is_final_attempt(SEND_WHATSAPP_WITH_RETRY))


@job_actor(AUTO_SUMMARY_WHATSAPP_SESSION)
def auto_summary_whatsapp_session_job(*, business_id: int, session_id: int | None = None) -> None:
    """Summarise and close one idle session; without ``session_id``, queue one job for each of
    the business's idle sessions. The AI call holds no lock: a reply meanwhile keeps the
    session open. Dying mid-way leaves the session open and idle, summarised by the redelivery."""
    if session_id is None:
        sessions.queue_idle_session_summaries(business_id)
    else:
        sessions.summarize_session(business_id, session_id, adapters().ai_text)
