"""Outbound runs as the operator console shows them: every run (not only active ones) with the
reason its latest item failed, the live bars with that reason, and a run created straight from
an uploaded leads CSV.

The reason is the ``error`` of the run's most recently updated item that has one: a call that
ended busy, a dial Twilio refused, or a dial being tried again (the item is still pending, so
the bar would otherwise sit at 0 % with nothing to say why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.models import Lead, OutboundItem
from switchboard.domain.leads.csv_import import RowError, import_leads_csv, parse_leads_csv
from switchboard.domain.outbound.active_runs import ActiveRun, active_runs
from switchboard.domain.outbound.runs import (
    NewRun,
    RunView,
    check_concurrency,
    create_run,
    list_runs,
)


@dataclass(frozen=True)
class RunRow:
    """A run with its progress and the reason its latest item failed (None if none did)."""

    view: RunView
    last_error: str | None


@dataclass(frozen=True)
class LiveRun:
    """An active run's counts, as its bar draws them, and its latest failure reason."""

    run: ActiveRun
    last_error: str | None


@dataclass(frozen=True)
class CsvRun:
    """A run created from a CSV (None when the file had errors: then nothing was imported)."""

    view: RunView | None
    created: int
    updated: int
    errors: list[RowError]


def _last_errors(session: Session, business_id: int, run_ids: Iterable[int]) -> dict[int, str]:
    # One indexed lookup per run (a page holds at most a few dozen): the newest item with an
    # error, never a scan of a large run's failed items.
    found = {}
    for run_id in run_ids:
        error = session.execute(
            select(OutboundItem.error)
            .where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.error.is_not(None),
            )
            .order_by(OutboundItem.updated_at.desc(), OutboundItem.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if error:
            found[run_id] = error
    return found


def last_errors(business_id: int, run_ids: Iterable[int]) -> dict[int, str]:
    """The latest item failure reason of each of these runs of this business, by run id."""
    with tenant_session(business_id) as session:
        return _last_errors(session, business_id, run_ids)


def run_history(business_id: int, *, limit: int = 25, after_id: int | None = None) -> list[RunRow]:
    """This business's runs of every status, newest first (keyset on id), with reasons."""
    views = list_runs(business_id, limit=limit, after_id=after_id)
    errors = last_errors(business_id, (view.run.id for view in views))
    return [RunRow(view, errors.get(view.run.id)) for view in views]


def live_runs(business_id: int) -> list[LiveRun]:
    """The runs that are really active (:func:`active_runs`), each with its latest reason."""
    runs = active_runs(business_id)
    errors = last_errors(business_id, (run.id for run in runs))
    return [LiveRun(run, errors.get(run.id)) for run in runs]


def create_run_from_csv(business_id: int, data: bytes, new: NewRun) -> CsvRun:
    """Import the CSV's leads (all rows or none, as the leads import does), then create a
    draft run over exactly those leads. ``new.lead_ids`` and lead filters are ignored. A
    concurrency over the business's cap is refused (``RunInputError``) before any import."""
    check_concurrency(business_id, new.concurrency)
    outcome = import_leads_csv(business_id, data)
    if outcome.errors:
        return CsvRun(None, 0, 0, outcome.errors)
    # The import accepted the file, so it is UTF-8 and parses without errors: a lead or more
    # (a header alone is refused, ``csv_import.NO_ROWS``).
    phones = [row["phone"] for _, row in parse_leads_csv(data.decode("utf-8")).rows]
    with tenant_session(business_id) as session:
        lead_ids = list(
            session.execute(
                select(Lead.id).where(Lead.business_id == business_id, Lead.phone.in_(phones))
            ).scalars()
        )
    selection = dataclasses.replace(new, lead_ids=lead_ids, lead_status=None, lead_source=None)
    return CsvRun(create_run(business_id, selection), outcome.created, outcome.updated, [])
