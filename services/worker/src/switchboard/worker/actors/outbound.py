"""Outbound runs: the driver tick and call status updates."""

from __future__ import annotations

import uuid

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs import PermanentJobError, current_job
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import (
    OUTBOUND_CALL_STATUS,
    OUTBOUND_RECONCILE,
    OUTBOUND_RUN,
)
from switchboard.common.settings import get_settings
from switchboard.domain.outbound.calls import ItemNotFoundError, apply_call_status
from switchboard.domain.outbound.dialing import CallUrls, DialRetries
from switchboard.domain.outbound.driver import drive_run
from switchboard.domain.outbound.runs import enqueue_driver
from switchboard.domain.outbound.scheduled import reconcile_runs


# notify_shutdown: a stopping worker interrupts the tick; Retries hands it to the next worker.
@job_actor(OUTBOUND_RUN, notify_shutdown=True)
def outbound_run_job(run_id: int, *, business_id: int) -> None:
    """Drive the run for one tick, then hand over to the next tick.

    Cancelling this job cancels the run: the tick stops between calls and ends the calls in
    progress. A worker that dies mid-tick has the tick redelivered; an item it was dialing is
    looked up at Twilio (recorded if listed, failed once the grace for Twilio's list has
    passed), never redialed.
    """
    settings = get_settings()
    job = current_job()
    # Unique per execution: a duplicate delivery of the same message must not share the lease.
    owner = f"job:{job.job_id if job else 'inline'}:{uuid.uuid4().hex[:12]}"
    outcome = drive_run(
        business_id,
        run_id,
        owner=owner,
        twilio=adapters().twilio,
        urls=CallUrls(settings.public_base_url.rstrip("/")),
        retries=DialRetries(settings.twilio_dial_retries, settings.twilio_dial_backoff_s),
    )
    if outcome == "missing":
        raise PermanentJobError(f"outbound run {run_id} does not belong to business {business_id}")
    if outcome == "continue":
        enqueue_driver(business_id, run_id)


@job_actor(OUTBOUND_CALL_STATUS)
def outbound_call_status_job(
    run_id: int, item_id: int, call_sid: str, call_status: str, *, business_id: int
) -> None:
    """Move an item on a Twilio status callback or the gateway's ``call.ended``."""
    try:
        apply_call_status(business_id, run_id, item_id, call_sid, call_status)
    except ItemNotFoundError as exc:
        raise PermanentJobError(str(exc)) from exc


@job_actor(OUTBOUND_RECONCILE)
def outbound_reconcile_job(*, business_id: int) -> None:
    """Resume the business's runs whose driver stopped renewing its lease, or close them if
    their driver job is dead or was cancelled."""
    reconcile_runs(business_id)
