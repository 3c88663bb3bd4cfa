"""Call jobs, enqueued by the API's call-event consumer (keyed by Twilio's call sid), and the
scheduler's sweep of calls whose end never came.

Each event's job is one transaction of upserts keyed by the call sid: a worker dying mid-way
has written nothing, and the redelivery writes it once. The sweep ends one call per
transaction: a worker dying mid-way leaves the calls ended so far ended, and the next run
ends the rest."""

from __future__ import annotations

from typing import Any

from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import (
    CREATE_LEAD_FROM_CALL,
    DEFERRED_CALL_SETUP,
    END_STALE_CALLS,
    FINALIZE_CALL_LOG,
    FINALIZE_CALL_SESSION,
)
from switchboard.common.models import CallLog
from switchboard.domain.calls import logs as calls
from switchboard.domain.calls.stale import end_stale_calls
from switchboard.worker.actors._erased import unless_erased


@job_actor(DEFERRED_CALL_SETUP)
def deferred_call_setup_job(*, business_id: int, call_sid: str, **fields: Any) -> None:
    """``call.started``: the call log, the session and the caller's lead exist."""
    calls.setup_call(business_id, call_sid=call_sid, **fields)


@job_actor(FINALIZE_CALL_LOG)
def finalize_call_log_job(*, business_id: int, call_sid: str, **fields: Any) -> None:
    """A final ``call.status``: status, numbers and duration on the call log (``call.ended``
    is written by the API's event consumer itself)."""
    calls.finalize_call_log(business_id, call_sid=call_sid, **fields)


@job_actor(FINALIZE_CALL_SESSION)
def finalize_call_session_job(*, business_id: int, call_sid: str, **fields: Any) -> None:
    """``call.ended``: the media session is closed."""
    calls.finalize_call_session(business_id, call_sid=call_sid, **fields)


@job_actor(CREATE_LEAD_FROM_CALL)
@unless_erased(call_log_id=CallLog)
def create_lead_from_call_job(*, business_id: int, call_log_id: int) -> None:
    """After the call log is final: find or create the caller's lead and link it."""
    calls.create_lead_from_call(business_id, call_log_id)


@job_actor(END_STALE_CALLS)
def end_stale_calls_job(*, business_id: int) -> None:
    """The sweep: end the business's calls whose gateway died or whose end was lost, with the
    outbound item's final status, else ``failed`` (``domain/calls/stale.py``)."""
    end_stale_calls(business_id)
