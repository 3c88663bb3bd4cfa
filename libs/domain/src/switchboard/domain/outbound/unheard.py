"""A dial whose outcome is unknown: looked up in Twilio's calls until it is found or given up.

A dial may have reached Twilio without our hearing back: its answer was lost (a timeout, a
dropped connection, a 500, 502 or 504) or its driver died mid-request. Such an item stays
``dialing`` with no ``call_sid``, and is never dialed again: the call may have gone out. It is
looked up in Twilio's calls between the two numbers (:func:`calls_since`,
:func:`unheard_call`), first by the dial itself, then by each driver tick
(:func:`settle_unheard_dials`), and :func:`settle_unheard_dial` decides, for both:

- the call found is recorded as placed (``in_progress``, its sid stored so its status
  callbacks apply);
- Twilio listing none fails the item only from a lookup begun :data:`LIST_LAG_GRACE` after the
  dial began: Twilio lists a new call late, and one it does not list yet may be ringing;
- a lookup that fails (Twilio unreachable) says nothing: the item waits for the next one,
  and fails only :data:`LOOKUP_GIVE_UP` after the dial began, so that no run waits for ever;
- an item of a person under erasure, or erased (its number blanked), is not looked up: it is
  closed as the erasure closes the person's items (``erased.py``), and its line freed.

While it waits the item holds a line like any call in flight (``progress.IN_FLIGHT``: it counts
against the caps, and its run does not complete). A run that ends meanwhile (cancelled, or
closed as failed) keeps it waiting under the same rule: the passes that settle an ended run's
calls (``closing.py``) look it up until the call is found (then ended, for a cancelled run) or
the grace has passed, so that a call Twilio lists after the cancel is still ended.

A call may still show up after its item failed by this rule (Twilio listed it later than the
grace, or could not be asked for longer than the bound): its status callbacks, or the
gateway's end of the call, name the item. The item adopts such a call once it is known to have
been answered (``calls.apply_call_status``, :func:`failed_unheard`): the lead was reached and
may be talking to the agent, so the item records the call and its real outcome rather than
say ``failed``. Never redialed meanwhile: a failed item is final until it adopts a call.

The grace counts from the item's ``updated_at``, which is when the dial began or earlier (the
claim, or a try Twilio refused before it): a dial that got no answer stores its start there,
and nothing else writes the item while it waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import IntegrationError
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.logging import get_logger
from switchboard.common.models import Business, OutboundItem
from switchboard.domain.outbound.erased import close_erased_item, erased_item
from switchboard.domain.outbound.progress import unheard_dial
from switchboard.domain.unrecorded import first_unrecorded

log = get_logger(__name__)

#: How long after a dial began Twilio may still not list the call it made. Twilio documents no
#: bound on its list's lag; in practice a new call is listed within seconds. Two minutes covers
#: that many times over while the item holds its line, and is shorter than the calls a run
#: places, so a call found late is usually still live and ended by a cancel.
LIST_LAG_GRACE = timedelta(minutes=2)
#: How long after a dial began lookups that fail (Twilio unreachable, its 5xx) are waited out
#: before the item fails though nothing is known: long enough for a short outage of Twilio's
#: API, short enough that a run (which cannot complete while the item waits) does not hang.
LOOKUP_GIVE_UP = timedelta(minutes=10)
#: How much earlier than a dial began Twilio may date the call it made (``date_created`` counts
#: whole seconds; clocks differ a little). Small, so that an earlier call to the same lead is
#: not taken for this dial's.
_CLOCK_SLACK = timedelta(seconds=5)

#: Why an item whose call Twilio never listed failed.
NOT_LISTED = (
    f"the dial got no answer or was interrupted, and Twilio listed no such call "
    f"{int(LIST_LAG_GRACE.total_seconds())} s after it began; not redialed to avoid a duplicate"
)
#: Why an item whose call could not be looked up failed.
NOT_LOOKED_UP = (
    f"the dial got no answer or was interrupted, and Twilio could not be asked about it for "
    f"{int(LOOKUP_GIVE_UP.total_seconds())} s; not redialed to avoid a duplicate"
)


def failed_unheard(item: OutboundItem) -> bool:
    """True if the item failed by this module's rule: a dial of unknown outcome whose call was
    never found (no ``call_sid``, failed saying :data:`NOT_LISTED` or :data:`NOT_LOOKED_UP`)."""
    error = item.error or ""
    return (
        item.status == "failed"
        and item.call_sid is None
        and (error == NOT_LISTED or error.startswith(NOT_LOOKED_UP))
    )


@dataclass(frozen=True)
class Lookup:
    """What Twilio's call list said about a dial, and when it was asked."""

    #: Sids of the calls that dial may have made, newest first; None if Twilio was not reached.
    calls: list[str] | None
    #: When the lookup began: a call Twilio had listed by then is in ``calls``.
    asked_at: datetime
    #: Why Twilio could not be asked (``calls`` is None).
    error: str = ""


def calls_since(
    business_id: int,
    twilio: TwilioRest,
    *,
    to: str,
    from_: str,
    since: datetime,
    previous_call_at: datetime | None,
) -> Lookup:
    """Twilio's calls between the two numbers that a dial begun at ``since`` may have made,
    newest first: none dated before the item's previous call was placed
    (``previous_call_at``). A lookup that fails says so (``calls`` None), it finds nothing."""
    after = since - _CLOCK_SLACK
    if previous_call_at is not None:
        after = max(after, as_utc(previous_call_at))
    asked_at = utcnow()
    try:
        return Lookup(twilio.find_calls(to, from_, created_after=after), asked_at)
    except IntegrationError as exc:
        log.warning("outbound.call_lookup_failed", business_id=business_id, error=str(exc)[:200])
        return Lookup(None, asked_at, str(exc)[:200])


def unheard_call(session: Session, business_id: int, candidates: list[str]) -> str | None:
    """The newest of :func:`calls_since`'s ``candidates`` no item has recorded (one recorded is
    that item's call): the call the dial made though it never heard back, or None."""
    return first_unrecorded(session, OutboundItem.call_sid, business_id, candidates)


def placed_values(call_sid: str) -> dict[str, object]:
    """An item's columns once Twilio took its call (its dial answered, or the call found)."""
    return {
        "status": "in_progress",
        "call_sid": call_sid,
        "placed_at": utcnow(),
        "calls_placed": OutboundItem.calls_placed + 1,
        "error": None,
    }


def settle_unheard_dial(
    session: Session,
    business_id: int,
    item_id: int,
    lookup: Lookup,
    *,
    began: datetime,
) -> str:
    """Record what ``lookup`` says of the item's dial begun at ``began`` (the rule above):
    ``placed``, ``failed`` or ``waiting``. Written only while the item is still ``dialing``
    with no call."""
    waited = lookup.asked_at - began
    unheard = None if lookup.calls is None else unheard_call(session, business_id, lookup.calls)
    values: dict[str, object]
    if unheard is not None:
        outcome, values = "placed", placed_values(unheard)
    elif lookup.calls is not None and waited >= LIST_LAG_GRACE:
        outcome, values = "failed", {"status": "failed", "completed_at": utcnow()}
        values["error"] = NOT_LISTED
    elif lookup.calls is None and waited >= LOOKUP_GIVE_UP:
        outcome, values = "failed", {"status": "failed", "completed_at": utcnow()}
        values["error"] = f"{NOT_LOOKED_UP}: {lookup.error}"[:500]
    else:
        # ``updated_at`` stays when the dial began: the grace and the next lookup count from it.
        seen = "Twilio does not list it yet" if lookup.calls is not None else lookup.error
        outcome, values = "waiting", {"updated_at": began}
        values["error"] = f"outcome unknown, looking the call up at Twilio: {seen}"[:500]
    session.execute(
        update(OutboundItem)
        .where(OutboundItem.business_id == business_id, OutboundItem.id == item_id, *unheard_dial())
        .values(**({"updated_at": utcnow()} | values))
    )
    return outcome


def settle_unheard_dials(business_id: int, run_id: int, twilio: TwilioRest) -> None:
    """Look up again each item of the run left ``dialing`` with no call: by a dial that got no
    answer, or by a driver that died mid-dial (its dial began no earlier than the item's last
    change). Called by the run's driver between its dials, and by the passes settling an ended
    run's calls: each write is conditional, so one another pass settled first is left alone."""
    with tenant_session(business_id) as session:
        unsettled = session.execute(
            select(
                OutboundItem.id,
                OutboundItem.phone,
                OutboundItem.placed_at,
                OutboundItem.updated_at,
                Business.phone_number,
                erased_item(business_id).label("erased"),
            )
            .join(Business, Business.id == OutboundItem.business_id)
            .where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                *unheard_dial(),
            )
        ).all()
    for item in unsettled:
        if item.erased:  # no number to look up, no call to record
            with tenant_session(business_id) as session:
                if close_erased_item(session, business_id, item.id):
                    log.info(
                        "outbound.erased_item_closed",
                        business_id=business_id,
                        run_id=run_id,
                        item_id=item.id,
                    )
            continue
        began = as_utc(item.updated_at)
        lookup = calls_since(  # no transaction open while Twilio is asked
            business_id,
            twilio,
            to=item.phone,
            from_=item.phone_number,
            since=began,
            previous_call_at=item.placed_at,
        )
        with tenant_session(business_id) as session:
            outcome = settle_unheard_dial(session, business_id, item.id, lookup, began=began)
        log.info(
            "outbound.unheard_dial_looked_up",
            business_id=business_id,
            run_id=run_id,
            item_id=item.id,
            outcome=outcome,
        )
