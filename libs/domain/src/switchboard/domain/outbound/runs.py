"""Creating, listing, starting and cancelling runs: what the API calls.

Starting is one conditional UPDATE (``draft`` → ``running``), so of any number of concurrent
starts the database lets exactly one through. Cancelling takes the run's row lock, which the
driver holds (shared) while it places each call, so once a cancel has answered, no new call
can be placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import ConflictError, InvalidReferenceError, NotFoundError
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import OUTBOUND_RUN
from switchboard.common.models import Business, Lead, OutboundItem, OutboundRun
from switchboard.common.phone import is_e164
from switchboard.domain.outbound.progress import Progress, run_progress
from switchboard.domain.own_number import KIND, OWN_NUMBER, business_number


class RunNotFoundError(NotFoundError):
    """No such run for this business."""


class RunStateError(ConflictError):
    """The run is not in a state that allows the operation."""


class RunInputError(InvalidReferenceError):
    """The request names something invalid; ``field`` says which (→ 422)."""


@dataclass(frozen=True)
class RunView:
    """A run with its progress."""

    run: OutboundRun
    progress: Progress


@dataclass(frozen=True)
class NewRun:
    """What creating a run needs."""

    name: str
    lead_ids: list[int] | None = None
    lead_status: str | None = None
    lead_source: str | None = None
    concurrency: int = 1
    window_start: time | None = None
    window_end: time | None = None
    max_attempts: int = 1
    retry_delay_s: int = 300


def _get(session: Any, business_id: int, run_id: int, *, lock: bool = False) -> OutboundRun:
    query = select(OutboundRun).where(
        OutboundRun.business_id == business_id, OutboundRun.id == run_id
    )
    run: OutboundRun | None = session.execute(
        query.with_for_update() if lock else query
    ).scalar_one_or_none()
    if run is None:
        raise RunNotFoundError(f"outbound run {run_id} not found")
    return run


def _check_concurrency(session: Session, business_id: int, concurrency: int) -> None:
    cap = session.execute(
        select(Business.outbound_concurrency_cap).where(Business.id == business_id)
    ).scalar_one()
    if concurrency > cap:
        raise RunInputError(
            "concurrency", f"concurrency {concurrency} exceeds this business's cap of {cap}"
        )


def check_concurrency(business_id: int, concurrency: int) -> None:
    """Refuse (``RunInputError``, 422) a concurrency over the business's cap, as
    :func:`create_run` does: for a caller that changes data before creating the run."""
    with tenant_session(business_id) as session:
        _check_concurrency(session, business_id, concurrency)


def _some(lead_ids: list[int]) -> str:
    """The first 20 of ``lead_ids``, and how many more."""
    shown = ", ".join(str(lead_id) for lead_id in lead_ids[:20])
    return shown + (f" and {len(lead_ids) - 20} more" if len(lead_ids) > 20 else "")


def create_run(business_id: int, new: NewRun) -> RunView:
    """Create a draft run with one item per selected lead.

    Refused (``RunInputError``, 422) if a selected lead's phone is not in E.164 form, or is
    the business's own number (the agent would call itself), naming those leads.
    """
    with tenant_session(business_id) as session:
        _check_concurrency(session, business_id, new.concurrency)
        query = select(Lead.id, Lead.phone).where(Lead.business_id == business_id)
        if new.lead_ids is not None:
            query = query.where(Lead.id.in_(new.lead_ids))
        if new.lead_status is not None:
            query = query.where(Lead.status == new.lead_status)
        if new.lead_source is not None:
            query = query.where(Lead.source == new.lead_source)
        leads = session.execute(query.order_by(Lead.id)).all()
        # What chose the leads, as the request names it: the ids, else the filter.
        chosen_by = "lead_ids" if new.lead_ids is not None else "filter"
        if new.lead_ids is not None:
            missing = sorted(set(new.lead_ids) - {lead.id for lead in leads})
            if missing:
                raise RunInputError("lead_ids", f"leads not found: {missing}")
        if not leads:
            filtered = new.lead_ids is None or (new.lead_status, new.lead_source) != (None, None)
            raise RunInputError(
                "filter" if filtered else "lead_ids",
                f"the {'filter' if filtered else 'selection'} matches no leads",
            )
        undialable = [lead.id for lead in leads if not is_e164(lead.phone)]
        if undialable:  # Twilio would refuse each call (error 21211): say so before the run
            raise RunInputError(
                chosen_by,
                "leads whose phone is not a number in E.164 form (+15551234567): "
                f"{_some(undialable)}; correct their phone or leave them out",
            )
        own = business_number(session, business_id)
        itself = [lead.id for lead in leads if lead.phone == own]
        if itself:  # a lead from before the rule (``domain/own_number.py``), or a call's
            raise RunInputError(
                chosen_by,
                f"leads whose phone {OWN_NUMBER} ({_some(itself)}): change their phone or "
                "leave them out",
                kind=KIND,
            )
        run = OutboundRun(
            business_id=business_id,
            name=new.name,
            status="draft",
            concurrency=new.concurrency,
            window_start=new.window_start.strftime("%H:%M") if new.window_start else None,
            window_end=new.window_end.strftime("%H:%M") if new.window_end else None,
            retry_policy={"max_attempts": new.max_attempts, "retry_delay_s": new.retry_delay_s},
        )
        session.add(run)
        session.flush()
        session.add_all(
            OutboundItem(business_id=business_id, run_id=run.id, lead_id=lead.id, phone=lead.phone)
            for lead in leads
        )
        session.flush()
        return RunView(run, run_progress(session, run))


def get_run(business_id: int, run_id: int) -> RunView:
    """One run with its progress."""
    with tenant_session(business_id) as session:
        run = _get(session, business_id, run_id)
        return RunView(run, run_progress(session, run))


def list_runs(business_id: int, *, limit: int = 50, after_id: int | None = None) -> list[RunView]:
    """Runs newest first (keyset on id)."""
    query = select(OutboundRun).where(OutboundRun.business_id == business_id)
    if after_id is not None:
        query = query.where(OutboundRun.id < after_id)
    with tenant_session(business_id) as session:
        runs = session.execute(query.order_by(OutboundRun.id.desc()).limit(limit)).scalars().all()
        return [RunView(run, run_progress(session, run)) for run in runs]


def list_items(
    business_id: int, run_id: int, *, limit: int = 100, after_id: int | None = None
) -> list[OutboundItem]:
    """A run's items in order (keyset on id)."""
    with tenant_session(business_id) as session:
        _get(session, business_id, run_id)
        query = select(OutboundItem).where(
            OutboundItem.business_id == business_id, OutboundItem.run_id == run_id
        )
        if after_id is not None:
            query = query.where(OutboundItem.id > after_id)
        return list(session.execute(query.order_by(OutboundItem.id).limit(limit)).scalars())


def start_run(business_id: int, run_id: int) -> RunView:
    """Start a draft run exactly once and enqueue its driver in the same transaction."""
    with tenant_session(business_id) as session:
        started = session.execute(
            update(OutboundRun)
            .where(
                OutboundRun.business_id == business_id,
                OutboundRun.id == run_id,
                OutboundRun.status == "draft",
            )
            .values(
                status="running", started_at=utcnow(), heartbeat_at=utcnow(), updated_at=utcnow()
            )
            .returning(OutboundRun.id)
        ).first()
        if started is None:
            run = _get(session, business_id, run_id)
            if run.status == "running":
                raise RunStateError(f"outbound run {run_id} is already running")
            raise RunStateError(
                f"outbound run {run_id} is {run.status} and cannot be started again"
            )
        enqueue_driver(business_id, run_id)
    return get_run(business_id, run_id)


def cancel_run(business_id: int, run_id: int) -> RunView:
    """Cancel a draft or running run; its driver ends calls in progress through Twilio."""
    with tenant_session(business_id) as session:
        run = _get(session, business_id, run_id, lock=True)  # waits for a dial in progress
        was_running = run.status == "running"
        if not stop_run(session, business_id, run_id, "cancelled by request"):
            raise RunStateError(f"outbound run {run_id} is already {run.status}")
        if was_running:
            enqueue_driver(business_id, run_id)
    return get_run(business_id, run_id)


def stop_run(session: Session, business_id: int, run_id: int, reason: str) -> bool:
    """Cancel a draft or running run and its pending items in ``session``; False if it had ended.

    Takes the run's row lock, so it waits for a dial under way. Ending the calls in progress is
    the driver's (``closing.finish_calls``).
    """
    run = _get(session, business_id, run_id, lock=True)
    if run.status not in ("draft", "running"):
        return False
    run.status, run.finished_at, run.end_reason = "cancelled", utcnow(), reason
    cancel_pending_items(session, business_id, run_id, reason)
    return True


def cancel_pending_items(session: Session, business_id: int, run_id: int, reason: str) -> None:
    """Cancel the items of an ending run that were never dialed, saying why (the run's end
    ``reason``): a run cancelled, or closed as failed, dials no one more."""
    session.execute(
        update(OutboundItem)
        .where(
            OutboundItem.business_id == business_id,
            OutboundItem.run_id == run_id,
            OutboundItem.status == "pending",
        )
        .values(
            status="cancelled",
            updated_at=utcnow(),
            error=f"not dialed, the run ended: {reason}"[:500],
        )
    )


def enqueue_driver(business_id: int, run_id: int, *, delay_s: float | None = None) -> None:
    """Queue the run's driver job (in the caller's transaction when there is one)."""
    enqueue(OUTBOUND_RUN, business_id=business_id, run_id=run_id)
