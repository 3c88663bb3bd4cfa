"""An ended run's calls in flight: settled until none is left, ended if the run was cancelled.

A run ends ``cancelled`` (by request, or its driver job cancelled) or ``failed`` (the
scheduler's reconciler closes it when its driver job died for good). Either way its items
that were never dialed are cancelled at once, saying why (``runs.cancel_pending_items``), and
no lead is dialed again: only a ``running`` run's driver claims items, and a ``busy`` or
``no-answer`` of a run no longer running fails its item. Its items in flight may still be
real calls, and :func:`finish_calls` settles them, one rule for both ends:

- a dial of unknown outcome (``dialing``, no call) is looked up at Twilio by the rule of
  ``unheard.py``, as while the run ran: the call found is recorded; Twilio listing none
  fails the item once the grace has passed; the item keeps its line meanwhile;
- a cancelled run's calls in progress are ended through Twilio (the user asked the run to
  stop), the item failing ``call ended canceled``;
- a failed run's calls are left to end by themselves (no one asked to hang up on a lead mid
  conversation): their status callbacks still apply, and a call gone quiet is asked of Twilio
  (``calls.look_up_quiet_calls``).

The run's driver job does it (the one a cancel enqueues, or a tick that sees its run
cancelled), once. Whatever is still in flight after that (a dial Twilio does not list yet, a
failed run's live call) is settled again by driver jobs the reconciler enqueues every
15 seconds (``scheduled.py``: :func:`ended_runs_in_flight`) for runs that ended within
:data:`SETTLE_HORIZON`, until none is left. Settling places no call, so it also runs while
``ENABLE_SCHEDULERS=false``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select

from switchboard.common.db.inline import inline, inline_list
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import PermanentIntegrationError
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.outbound.calls import STALE_CALL, apply_call_status, look_up_quiet_calls
from switchboard.domain.outbound.progress import IN_FLIGHT
from switchboard.domain.outbound.unheard import settle_unheard_dials

#: The ends after which a run's calls may still be in flight.
ENDED = ("cancelled", "failed")
#: How long after a run ended its calls in flight are still settled. Each settles within
#: minutes (a dial of unknown outcome within ``unheard.LOOKUP_GIVE_UP``, a call once Twilio
#: answers a lookup or its callback comes); the bound keeps the reconciler's query to recent
#: runs rather than every run ever ended.
SETTLE_HORIZON = timedelta(days=1)


def ended_runs_in_flight(now: datetime) -> ColumnElement[bool]:
    """Runs that ended within :data:`SETTLE_HORIZON` and still have an item in flight."""
    in_flight = exists().where(
        OutboundItem.business_id == OutboundRun.business_id,
        OutboundItem.run_id == OutboundRun.id,
        OutboundItem.status.in_(IN_FLIGHT),
    )
    # Written into the statement (``db/inline.py``): a plan sees the few runs ended since
    # (``ix_outbound_runs_status_finished_at``). On a guess (a third of the ended runs) it
    # checks every item in flight ever left, in one scan of the items, rather than those of
    # the runs it found.
    ended = inline_list("ended", ENDED)
    since = inline("settle_since", now - SETTLE_HORIZON, OutboundRun.finished_at.type)
    return OutboundRun.status.in_(ended) & (OutboundRun.finished_at >= since) & in_flight


def finish_calls(business_id: int, run_id: int, twilio: TwilioRest, ended: str) -> None:
    """Settle the calls in flight of a run that ended ``ended`` (the rule above)."""
    settle_unheard_dials(business_id, run_id, twilio)
    if ended == "cancelled":
        _end_calls(business_id, run_id, twilio)
    else:
        look_up_quiet_calls(business_id, run_id, twilio, older_than=STALE_CALL)


def _end_calls(business_id: int, run_id: int, twilio: TwilioRest) -> None:
    """End the calls in progress of a cancelled run through Twilio."""
    with tenant_session(business_id) as session:
        live = session.execute(
            select(OutboundItem.id, OutboundItem.call_sid).where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.status == "in_progress",
                OutboundItem.call_sid.is_not(None),
            )
        ).all()
    for item_id, call_sid in live:
        assert call_sid is not None  # selected with call_sid IS NOT NULL
        try:
            twilio.end_call(call_sid)
        except PermanentIntegrationError:
            pass  # the call already ended; its status callback settles the item
        apply_call_status(business_id, run_id, item_id, call_sid, "canceled")
