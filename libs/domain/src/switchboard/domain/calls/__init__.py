"""Calls: what the gateway's call events record, what they lead to, and reading them back.

``logs`` writes call logs, call sessions and the caller's lead from the call events;
``followups`` enqueues the jobs a call event leads to, once per event; ``queries`` reads a
business's calls; ``recordings`` fetches, stores, transcribes and later removes recordings;
``stale`` ends the calls whose end never came (a gateway died); ``scheduled`` declares the
domain's periodic jobs.
"""

from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.logs import (
    create_lead_from_call,
    finalize_call_log,
    finalize_call_session,
    setup_call,
)
from switchboard.domain.calls.queries import CallFilter, get_call, list_calls
from switchboard.domain.calls.recordings import cleanup_old_recordings, process_recording

__all__ = [
    "CallFilter",
    "cleanup_old_recordings",
    "create_lead_from_call",
    "enqueue_follow_ups",
    "finalize_call_log",
    "finalize_call_session",
    "get_call",
    "list_calls",
    "process_recording",
    "setup_call",
]
