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
  (``calls.look_up_quiet_calls``). So is a call a completed run's item adopted after the run
  completed (Twilio listed it after the grace, ``calls.py``).

The run's driver job does it (the one a cancel enqueues, or a tick that sees its run
cancelled), once. Whatever is still in flight after that (a dial Twilio does not list yet, a
failed run's live call) is settled again by driver jobs the reconciler enqueues every
15 seconds (``scheduled.py``: :func:`ended_runs_in_flight`) until none is left, however long
ago the run ended: a run whose settling failed for days (Twilio down, no worker over a
weekend) is settled once they are back. The reconciler finds those runs from the items in
flight (a partial index, migration 0036), not by reading every run ever ended. Settling places
no call, so it also runs while ``ENABLE_SCHEDULERS=false``.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from switchboard.common.db.inline import inline_list
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import PermanentIntegrationError
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.models import OutboundItem, OutboundRun
from switchboard.domain.outbound.calls import STALE_CALL, apply_call_status, look_up_quiet_calls
from switchboard.domain.outbound.progress import IN_FLIGHT
from switchboard.domain.outbound.unheard import settle_unheard_dials

#: The ends after which a run's calls may still be in flight (a completed run's, once one of
#: its items adopted a call Twilio listed late: ``calls.apply_call_status``).
ENDED = ("cancelled", "failed", "completed")


def ended_runs_in_flight() -> Select[int, int]:
    """The business and id of each ended run with an item in flight, however long ago it
    ended: read from the items in flight (``ix_outbound_items_in_flight``, a handful at any
    time), never from the runs ever ended."""
    # Written into the statement (``db/inline.py``): the partial index's predicate, which a
    # generic plan could not match against a parameter.
    in_flight = OutboundItem.status.in_(inline_list("in_flight", IN_FLIGHT))
    # The run's status as a subquery of each item in flight, not a join: a join's plan may
    # start from the runs ended (every run ever ended, on a guess) and probe their items.
    run_status = (
        select(OutboundRun.status)
        .where(
            OutboundRun.business_id == OutboundItem.business_id,
            OutboundRun.id == OutboundItem.run_id,
        )
        .scalar_subquery()
    )
    return (
        select(OutboundItem.business_id, OutboundItem.run_id)
        .where(in_flight, run_status.in_(inline_list("ended", ENDED)))
        .distinct()
    )


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
