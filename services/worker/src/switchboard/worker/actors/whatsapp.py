"""WhatsApp jobs: answering inbound messages, sending replies, summarising idle sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import (
    AUTO_SUMMARY_WHATSAPP_SESSION,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_WHATSAPP_MESSAGE,
    SEND_WHATSAPP_WITH_RETRY,
)
from switchboard.common.models import WhatsAppMessage, WhatsAppSession
from switchboard.common.settings import get_settings
from switchboard.domain.whatsapp import concurrency, replies, sending, sessions
from switchboard.worker.actors._attempts import defer, is_final_attempt
from switchboard.worker.actors._erased import unless_erased
from switchboard.worker.bootstrap import stores


@job_actor(PROCESS_WHATSAPP_WEBHOOK)
@unless_erased(message_id=WhatsAppMessage)
def process_whatsapp_webhook_job(
    *, business_id: int, message_id: int, window_open_until_ms: int | None = None
) -> None:
    """Reply to a stored inbound message and send the reply, unless the business is at its
    concurrency limit.

    Dying after the reply is stored leaves it ``sending``: the redelivery finds it (the
    inbound message links it), asks the agent nothing, and finishes the send as a send job
    would — a lookup at Twilio first, a send only once the lookup window has passed. A failed
    send fails this job; its retries send again, the last one marks the reply failed.
    """
    try:
        reply = replies.reply_to_inbound(
            business_id,
            message_id,
            adapters().ai_text,
            stores().replies,
            window_open_until_ms=window_open_until_ms,
        )
    except concurrency.BusinessAtLimit:
        defer("business at its WhatsApp concurrency limit")
    if reply is None:
        return
    try:
        replies.send_reply(
            business_id,
            reply,
            adapters().twilio,
            stores().sends,
            final=is_final_attempt(PROCESS_WHATSAPP_WEBHOOK),
            lookup_window=_lookup_window(),
            window_open_until_ms=window_open_until_ms,
        )
    except sending.SendUnsettled as unsettled:
        _step_back(unsettled)


def _lookup_window() -> timedelta:
    return timedelta(seconds=get_settings().whatsapp_send_lookup_window_s)


def _step_back(unsettled: sending.SendUnsettled) -> NoReturn:
    """Come back once an earlier attempt's lookup window has passed (nothing was sent)."""
    delay_ms = int(unsettled.retry_in.total_seconds() * 1000)
    defer(str(unsettled), min_delay_ms=delay_ms + 200, max_delay_ms=delay_ms + 1000)


def _send(
    business_id: int, message_id: int, *, final: bool, window_open_until_ms: int | None = None
) -> None:
    """Send once. Dying mid-send leaves the message ``sending``: the redelivery looks it up at
    Twilio and, not finding it, steps back until the lookup window has passed, then sends."""
    try:
        sending.send_outbound(
            business_id,
            message_id,
            adapters().twilio,
            stores().sends,
            final=final,
            lookup_window=_lookup_window(),
            window_open_until_ms=window_open_until_ms,
        )
    except sending.SendUnsettled as unsettled:
        _step_back(unsettled)


@job_actor(SEND_WHATSAPP_MESSAGE)
@unless_erased(message_id=WhatsAppMessage)
def send_whatsapp_message_job(
    *, business_id: int, message_id: int, window_open_until_ms: int | None = None
) -> None:
    """Send a stored outbound message once; a failure marks it failed."""
    _send(business_id, message_id, final=True, window_open_until_ms=window_open_until_ms)


@job_actor(SEND_WHATSAPP_WITH_RETRY)
@unless_erased(message_id=WhatsAppMessage)
def send_whatsapp_with_retry_job(*, business_id: int, message_id: int) -> None:
    """Send a stored outbound message, retried with backoff; failed after the last try.

    Nothing enqueues it since the reply job sends its own reply (migration 0021); it stays for
    the send jobs an earlier version queued (a reply stored before the upgrade, not yet sent)
    and for retrying such a job once dead."""
    _send(business_id, message_id, final=is_final_attempt(SEND_WHATSAPP_WITH_RETRY))


@job_actor(AUTO_SUMMARY_WHATSAPP_SESSION)
@unless_erased(session_id=WhatsAppSession)
def auto_summary_whatsapp_session_job(*, business_id: int, session_id: int | None = None) -> None:
    """Summarise and close one idle session; without ``session_id``, queue one job for each of
    the business's idle sessions. The AI call holds no lock: a reply meanwhile keeps the
    session open. Dying mid-way leaves the session open and idle, summarised by the redelivery."""
    if session_id is None:
        sessions.queue_idle_session_summaries(business_id)
    else:
        sessions.summarize_session(business_id, session_id, adapters().ai_text)
