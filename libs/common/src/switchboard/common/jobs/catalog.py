"""Every job Switchboard runs: its actor name, queue, arguments, limits and policies.

Each entry is a constant named after its job; callers enqueue with it
(``enqueue(SEND_WHATSAPP_WITH_RETRY, business_id=…, message_id=…)``) and the worker declares
its actor from it, so the API never imports the worker and no queue or actor name is spelled
twice.

Expiry: work that records what already happened or what a customer is owed (a call's log and
lead, a recording, a WhatsApp message and its reply, analysis, webhooks, an erasure) has no
``ttl_s`` and never expires, however long the workers or the broker were away. Only
time-bound work (a reminder push, an outbound run's driver, warm-ups, periodic scans that the
next tick repeats) has one; expired, its ledger row says ``dead`` with ``expired: …`` and
``/metrics`` counts it (``switchboard_jobs_expired_total``).
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

    ``ttl_s``: seconds after enqueueing past which a job not yet started expires; ``None``
    (owed work) never expires. ``max_unfinished``: how many of its executions may die with
    their worker (SIGKILL, OOM) before its next delivery dead-letters it; ``None`` takes the
    ``JOB_MAX_UNFINISHED_DELIVERIES`` setting. Deliveries that never started (prefetched by a
    worker that died) do not count.
    """

    name: str
    queue: str
    timeout_s: int = 300
    max_retries: int = 3
    ttl_s: int | None = None
    params: tuple[str, ...] | None = None
    optional: tuple[str, ...] = ()
    max_unfinished: int | None = None

    def __post_init__(self) -> None:
        taken = RESERVED.intersection((*(self.params or ()), *self.optional))
        if taken:
            raise ValueError(f"{self.name}: argument names {sorted(taken)} are reserved")
        if self.ttl_s is not None and self.ttl_s <= 0:
            raise ValueError(f"{self.name}: ttl_s must be positive or None (never expires)")
        if self.max_unfinished is not None and self.max_unfinished < 1:
            raise ValueError(f"{self.name}: max_unfinished must be at least 1")

    def accepts(self) -> frozenset[str] | None:
        """Every argument name the actor takes besides ``business_id``; None if undeclared."""
        if self.params is None:
            return None
        return frozenset((*self.params, *self.optional))


# No phone numbers: the call-event consumer writes them on the call log, the jobs read them.
_CALL_FIELDS = ("direction", "started_at", "run_id", "item_id")

# Time-bound: warming caches is pointless once the moment has passed.
WARMUP_AGENTS = ActorSpec(
    "warmup_agents_job", "warmup", timeout_s=60, max_retries=1, ttl_s=600, params=()
)
WARMUP_BUSINESS = ActorSpec(
    "warmup_business_job", "warmup", timeout_s=60, max_retries=2, ttl_s=600, params=()
)
WARMUP_LAZY_SERVICES = ActorSpec(
    "warmup_lazy_services_job", "warmup", timeout_s=60, max_retries=1, ttl_s=600, params=()
)
PREBUILD_PROMPT = ActorSpec("prebuild_prompt_job", "prompts", timeout_s=60, ttl_s=600, params=())
# The contact of a WhatsApp conversation as a lead: the job names the conversation, and the
# number is read from it (no number in a payload).
CREATE_LEAD = ActorSpec(
    "create_lead_job", "leads", timeout_s=30, max_retries=5, params=("conversation_id",)
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
# Its limit fits the largest recording it takes (RECORDING_MAX_BYTES, 128 MiB: an hour of
# dual-channel WAV and more): the streamed download, then up to six 25 MB pieces transcribed
# one after another, each taking the provider about a minute or two (600 s covered only
# about three). It stays under RabbitMQ's 30-minute consumer timeout for an unacknowledged
# delivery, past which the broker would close the channel and deliver the job again. The
# steps are committed on the recording's row: a retry never downloads again.
PROCESS_RECORDING = ActorSpec(
    "process_recording_job",
    "recordings",
    timeout_s=1500,
    max_retries=5,
    params=("recording_sid", "call_sid"),
    optional=("recording_url", "duration_s"),
)
CLEANUP_OLD_RECORDINGS = ActorSpec(  # daily; the next day's run deletes what this one would
    "cleanup_old_recordings_job",
    "maintenance",
    timeout_s=900,
    max_retries=2,
    ttl_s=86_400,
    params=(),
)
END_STALE_CALLS = ActorSpec(  # a scan, repeated every minute
    "end_stale_calls_job", "calls", timeout_s=120, max_retries=1, ttl_s=600, params=()
)
# It sends the reply it stores: its retries are the reply's send retries too, and its time
# limit covers the model's call, the send and a lookup after a silent send (each up to
# INTEGRATION_TIMEOUT_S, 15 s) with room to spare.
# ``window_open_until_ms``: a time until which the conversation's WhatsApp window is known
# open (``domain/whatsapp/window.py``), so the send before it needs no query to check it.
PROCESS_WHATSAPP_WEBHOOK = ActorSpec(
    "process_whatsapp_webhook_job",
    "whatsapp",
    timeout_s=90,
    max_retries=5,
    params=("message_id",),
    optional=("window_open_until_ms",),
)
SEND_WHATSAPP_MESSAGE = ActorSpec(
    "send_whatsapp_message_job",
    "whatsapp_send",
    timeout_s=30,
    max_retries=0,
    params=("message_id",),
    optional=("window_open_until_ms",),
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
    params=("delivery_id",),
)
SEND_WEBHOOK_WITH_RETRY = ActorSpec(
    "send_webhook_with_retry_job",
    "webhooks",
    timeout_s=30,
    max_retries=8,
    params=("delivery_id",),
)
SEND_PUSH_NOTIFICATION = ActorSpec(  # a reminder's moment passes
    "send_push_notification_job",
    "notifications",
    timeout_s=30,
    max_retries=3,
    ttl_s=600,
    params=("subscription_id", "reminder_id"),
)
SCHEDULE_REMINDERS = ActorSpec(  # a scan: the next tick finds the reminders still pending
    "schedule_reminders_job", "notifications", timeout_s=60, max_retries=1, ttl_s=600, params=()
)
OUTBOUND_RUN = ActorSpec(  # dials: expired, the reconciler closes the run with the reason
    "outbound_run_job", "outbound", timeout_s=120, max_retries=10, ttl_s=600, params=("run_id",)
)
OUTBOUND_RECONCILE = ActorSpec(  # a scan, repeated every few seconds
    "outbound_reconcile_job", "outbound", timeout_s=60, max_retries=1, ttl_s=60, params=()
)
PRUNE_FINISHED_JOBS = ActorSpec(  # daily; the next day's run deletes what this one would
    "prune_finished_jobs_job",
    "maintenance",
    timeout_s=900,
    max_retries=2,
    ttl_s=86_400,
    params=(),
)
# Owed to the person who asked (GDPR art. 17): never expires. Rare, so it shares the quiet
# ``maintenance`` queue. The job names the erasure; the number is read from its row.
ERASE_PERSON = ActorSpec(
    "erase_person_job", "maintenance", timeout_s=900, max_retries=5, params=("erasure_id",)
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
    END_STALE_CALLS,
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
    PRUNE_FINISHED_JOBS,
    ERASE_PERSON,
)

#: The entries by actor name, for code that holds only the name (the worker, the ledger).
CATALOG: dict[str, ActorSpec] = {spec.name: spec for spec in _SPECS}
#: The entries actors were declared with in this process (``job_actor``), by actor name.
_declared: dict[str, ActorSpec] = {}


def declare(spec: ActorSpec) -> None:
    """Remember ``spec`` as the entry its actor runs under (``job_actor`` calls it)."""
    _declared[spec.name] = spec


def entry_of(actor_name: str) -> ActorSpec | None:
    """The entry of the actor named ``actor_name``: the one it was declared with in this
    process, else the catalog's (tests' ad-hoc actors have only the former)."""
    return _declared.get(actor_name) or CATALOG.get(actor_name)


def declared_queues() -> set[str]:
    """The queues of the actors declared in this process (``job_actor``), whichever broker
    is current: a broker made since (tests) has not seen them declared."""
    return {spec.queue for spec in _declared.values()}


def queues() -> list[str]:
    """Every queue the catalog's actors use, sorted."""
    return sorted({spec.queue for spec in _SPECS})
