"""Every job Switchboard runs: its actor name, queue, arguments, time limit, retries, age limit.

Each entry is a constant named after its job; callers enqueue with it
(``enqueue(SEND_WHATSAPP_WITH_RETRY, business_id=…, message_id=…)``) and the worker declares
its actor from it, so the API never imports the worker and no queue or actor name is spelled
twice.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Keywords of ``enqueue`` itself; no actor argument may take one of these names.
RESERVED = frozenset({"business_id", "job_id", "ttl", "timeout", "retry", "key", "period"})


@dataclass(frozen=True)
class ActorSpec:
    """What the job system needs to know about one actor.

    ``params`` are the keyword arguments (besides ``business_id``) every call must give and
    ``optional`` those it may give; ``None`` leaves them undeclared (tests' ad-hoc actors).
    Arguments are ids and short strings, never documents: a transcript, a webhook body or a
    notification's text is stored first and the job gets the row's id.
    """

    name: str
    queue: str
    timeout_s: int = 300
    max_retries: int = 3
    ttl_s: int = 600
    params: tuple[str, ...] | None = None
    optional: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        taken = RESERVED.intersection((*(self.params or ()), *self.optional))
        if taken:
            raise ValueError(f"{self.name}: argument names {sorted(taken)} are reserved")

    def accepts(self) -> frozenset[str] | None:
        """Every argument name the actor takes besides ``business_id``; None if undeclared."""
        if self.params is None:
            return None
        return frozenset((*self.params, *self.optional))


_CALL_FIELDS = ("direction", "from_number", "to_number", "started_at", "run_id", "item_id")

WARMUP_AGENTS = ActorSpec("warmup_agents_job", "warmup", timeout_s=60, max_retries=1, params=())
WARMUP_BUSINESS = ActorSpec("warmup_business_job", "warmup", timeout_s=60, max_retries=2, params=())
WARMUP_LAZY_SERVICES = ActorSpec(
    "warmup_lazy_services_job", "warmup", timeout_s=60, max_retries=1, params=()
)
PREBUILD_PROMPT = ActorSpec("prebuild_prompt_job", "prompts", timeout_s=60, params=())
CREATE_LEAD = ActorSpec(
    "create_lead_job",
    "leads",
    timeout_s=30,
    max_retries=5,
    params=("phone",),
    optional=("name", "email", "source"),
)
DEFERRED_CALL_SETUP = ActorSpec(
    "deferred_call_setup_job",
    "calls",
    timeout_s=30,
    max_retries=5,
    params=("call_sid",),
    optional=("stream_sid", *_CALL_FIELDS),
)
CREATE_LEAD_FROM_CALL = ActorSpec(
    "create_lead_from_call_job", "calls", timeout_s=30, max_retries=5, params=("call_log_id",)
)
FINALIZE_CALL_LOG = ActorSpec(
    "finalize_call_log_job",
    "calls",
    timeout_s=60,
    max_retries=5,
    params=("call_sid",),
    optional=("status", "duration_s", *_CALL_FIELDS),
)
FINALIZE_CALL_SESSION = ActorSpec(
    "finalize_call_session_job",
    "calls",
    timeout_s=30,
    max_retries=5,
    params=("call_sid",),
    optional=("stream_sid", "ended_at", "end_reason"),
)
PROCESS_RECORDING = ActorSpec(
    "process_recording_job",
    "recordings",
    timeout_s=600,
    max_retries=5,
    ttl_s=86_400,
    params=("recording_sid", "call_sid"),
    optional=("recording_url", "duration_s"),
)
CLEANUP_OLD_RECORDINGS = ActorSpec(
    "cleanup_old_recordings_job", "maintenance", timeout_s=900, max_retries=2, params=()
)
PROCESS_WHATSAPP_WEBHOOK = ActorSpec(
    "process_whatsapp_webhook_job", "whatsapp", timeout_s=60, max_retries=3, params=("message_id",)
)
SEND_WHATSAPP_MESSAGE = ActorSpec(
    "send_whatsapp_message_job",
    "whatsapp_send",
    timeout_s=30,
    max_retries=0,
    params=("message_id",),
)
SEND_WHATSAPP_WITH_RETRY = ActorSpec(
    "send_whatsapp_with_retry_job",
    "whatsapp_send",
    timeout_s=30,
    max_retries=5,
    params=("message_id",),
)
ANALYZE_CONVERSATION = ActorSpec(
    "analyze_conversation_job",
    "analysis",
    timeout_s=120,
    max_retries=3,
    params=(),
    optional=("conversation_id", "call_log_id"),
)
AUTO_SUMMARY_WHATSAPP_SESSION = ActorSpec(
    "auto_summary_whatsapp_session_job",
    "analysis",
    timeout_s=120,
    max_retries=3,
    params=(),
    optional=("session_id",),
)
SEND_WEBHOOK_TO_N8N = ActorSpec(
    "send_webhook_to_n8n_job",
    "webhooks",
    timeout_s=30,
    max_retries=5,
    ttl_s=86_400,
    params=("delivery_id",),
)
SEND_WEBHOOK_WITH_RETRY = ActorSpec(
    "send_webhook_with_retry_job",
    "webhooks",
    timeout_s=30,
    max_retries=8,
    ttl_s=86_400,
    params=("delivery_id",),
)
SEND_PUSH_NOTIFICATION = ActorSpec(
    "send_push_notification_job",
    "notifications",
    timeout_s=30,
    max_retries=3,
    params=("subscription_id", "reminder_id"),
)
SCHEDULE_REMINDERS = ActorSpec(
    "schedule_reminders_job", "notifications", timeout_s=60, max_retries=1, params=()
)
OUTBOUND_RUN = ActorSpec(
    "outbound_run_job", "outbound", timeout_s=120, max_retries=10, params=("run_id",)
)
OUTBOUND_RECONCILE = ActorSpec(
    "outbound_reconcile_job", "outbound", timeout_s=60, max_retries=1, params=()
)
OUTBOUND_CALL_STATUS = ActorSpec(
    "outbound_call_status_job",
    "calls",
    timeout_s=30,
    max_retries=5,
    params=("run_id", "item_id", "call_sid", "call_status"),
)

_SPECS = (
    WARMUP_AGENTS,
    WARMUP_BUSINESS,
    WARMUP_LAZY_SERVICES,
    PREBUILD_PROMPT,
    CREATE_LEAD,
    DEFERRED_CALL_SETUP,
    CREATE_LEAD_FROM_CALL,
    FINALIZE_CALL_LOG,
    FINALIZE_CALL_SESSION,
    PROCESS_RECORDING,
    CLEANUP_OLD_RECORDINGS,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_WHATSAPP_MESSAGE,
    SEND_WHATSAPP_WITH_RETRY,
    ANALYZE_CONVERSATION,
    AUTO_SUMMARY_WHATSAPP_SESSION,
    SEND_WEBHOOK_TO_N8N,
    SEND_WEBHOOK_WITH_RETRY,
    SEND_PUSH_NOTIFICATION,
    SCHEDULE_REMINDERS,
    OUTBOUND_RUN,
    OUTBOUND_RECONCILE,
    OUTBOUND_CALL_STATUS,
)

#: The entries by actor name, for code that holds only the name (the worker, the ledger).
CATALOG: dict[str, ActorSpec] = {spec.name: spec for spec in _SPECS}


def queues() -> list[str]:
    """Every queue the catalog's actors use, sorted."""
    return sorted({spec.queue for spec in _SPECS})
