"""Every job Switchboard runs: its actor name, queue, time limit, retries and age limit.

The API enqueues by name from this catalog without importing the worker; the worker declares
each actor with these settings. Names are the seed's MOVE_TO_WORKER table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActorSpec:
    """What the job system needs to know about one actor."""

    name: str
    queue: str
    timeout_s: int = 300
    max_retries: int = 3
    ttl_s: int = 600


_SPECS = [
    ActorSpec("warmup_agents_job", "warmup", timeout_s=60, max_retries=1),
    ActorSpec("warmup_business_job", "warmup", timeout_s=60, max_retries=2),
    ActorSpec("warmup_lazy_services_job", "warmup", timeout_s=60, max_retries=1),
    ActorSpec("prebuild_prompt_job", "prompts", timeout_s=60),
    ActorSpec("create_lead_job", "leads", timeout_s=30, max_retries=5),
    ActorSpec("deferred_call_setup_job", "calls", timeout_s=30, max_retries=5),
    ActorSpec("create_lead_from_call_job", "calls", timeout_s=30, max_retries=5),
    ActorSpec("finalize_call_log_job", "calls", timeout_s=60, max_retries=5),
    ActorSpec("finalize_call_session_job", "calls", timeout_s=30, max_retries=5),
    ActorSpec("process_recording_job", "recordings", timeout_s=600, max_retries=5, ttl_s=86_400),
    ActorSpec("cleanup_old_recordings_job", "maintenance", timeout_s=900, max_retries=2),
    ActorSpec("process_whatsapp_webhook_job", "whatsapp", timeout_s=60, max_retries=3),
    ActorSpec("send_whatsapp_message_job", "whatsapp_send", timeout_s=30, max_retries=0),
    ActorSpec("send_whatsapp_with_retry_job", "whatsapp_send", timeout_s=30, max_retries=5),
    ActorSpec("analyze_conversation_job", "analysis", timeout_s=120, max_retries=3),
    ActorSpec("auto_summary_whatsapp_session_job", "analysis", timeout_s=120, max_retries=3),
    ActorSpec("send_webhook_to_n8n_job", "webhooks", timeout_s=30, max_retries=5, ttl_s=86_400),
    ActorSpec("send_webhook_with_retry_job", "webhooks", timeout_s=30, max_retries=8, ttl_s=86_400),
    ActorSpec("send_push_notification_job", "notifications", timeout_s=30, max_retries=3),
    ActorSpec("schedule_reminders_job", "notifications", timeout_s=60, max_retries=1),
    ActorSpec("outbound_run_job", "outbound", timeout_s=120, max_retries=10),
    ActorSpec("outbound_reconcile_job", "outbound", timeout_s=60, max_retries=1),
    ActorSpec("outbound_call_status_job", "calls", timeout_s=30, max_retries=5),
]

CATALOG: dict[str, ActorSpec] = {spec.name: spec for spec in _SPECS}


def queues() -> list[str]:
    """Every queue the catalog's actors use, sorted."""
    return sorted({spec.queue for spec in _SPECS})
