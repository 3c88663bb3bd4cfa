"""Placing one call of a run: claim an item within the caps, then dial it through Twilio.

A claim counts the calls in flight and marks the next item ``dialing`` in one transaction that
first locks the business's row (``FOR NO KEY UPDATE``, which rows referencing the business do
not wait for): the claims of one business, from all its runs and drivers, take turns, so its
cap on calls in flight holds across runs. On SQLite, which has no row locks, the claim's write
comes before its counts and holds the database's write lock until it commits. Either way the
counts include the claimed item, and a claim over a cap is rolled back.

Dialing renews the run's lease in the transaction that places the call (see ``lease.py``),
and in it looks, under the locks of the item's numbers (its own and its lead's), whether the
person is under erasure: then the item is closed, never dialed (``erased.py``). The claim does
not look: it commits before the dial, and a request accepted in between is seen only there.

A dial that may have reached Twilio unheard (no answer, a 500, a driver that died mid-request)
is never repeated: it is looked up in Twilio's list of calls between the two numbers, and
recorded as placed, left waiting for the next lookup, or failed, by the one rule of
``unheard.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.logging import get_logger
from switchboard.common.models import Business, OutboundItem, OutboundRun
from switchboard.common.phone import is_e164
from switchboard.domain.outbound.erased import close_erased_item, erased_item_locked
from switchboard.domain.outbound.lease import renew_lease
from switchboard.domain.outbound.progress import IN_FLIGHT
from switchboard.domain.outbound.unheard import calls_since, placed_values, settle_unheard_dial

log = get_logger(__name__)

#: Why an item whose phone is not a number Twilio can dial fails without a call.
NOT_E164 = "not dialed: the lead's phone is not a number in E.164 form (+15551234567)"


@dataclass(frozen=True)
class CallUrls:
    """Where Twilio fetches the outbound TwiML and sends status callbacks (the gateway)."""

    gateway_base_url: str

    def twiml(self, business_id: int, run_id: int, item_id: int) -> str:
        """The TwiML Twilio fetches when the lead answers."""
        return (
            f"{self.gateway_base_url}/twilio/voice/outbound"
            f"?business_id={business_id}&run_id={run_id}&item_id={item_id}"
        )

    def status(self, business_id: int, run_id: int, item_id: int) -> str:
        """Where Twilio reports the call's progress."""
        return (
            f"{self.gateway_base_url}/twilio/voice/status"
            f"?business_id={business_id}&run_id={run_id}&item_id={item_id}"
        )


@dataclass(frozen=True)
class DialRetries:
    """How often a dial Twilio refused for now (429, 5xx) is tried again, and how far apart.

    Each pause is below the run's lease (15 s), which every try renews.
    """

    retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 5.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1, 2, …): doubling, capped."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (retry - 1)))


class _NoRoom(Exception):
    """The claim would exceed a cap: its transaction is rolled back."""


def _in_flight(session: Session, business_id: int, run_id: int | None = None) -> int:
    query = (
        select(func.count())
        .select_from(OutboundItem)
        .where(OutboundItem.business_id == business_id, OutboundItem.status.in_(IN_FLIGHT))
    )
    if run_id is not None:
        query = query.where(OutboundItem.run_id == run_id)
    return int(session.scalar(query) or 0)


def claim_item(business_id: int, run: OutboundRun) -> int | None:
    """Mark the run's next due item ``dialing`` if the run and the business have room; its id."""
    delay = timedelta(seconds=int((run.retry_policy or {}).get("retry_delay_s", 300)))
    try:
        with tenant_session(business_id) as session:
            cap = session.scalar(
                select(Business.outbound_concurrency_cap)
                .where(Business.id == business_id)
                .with_for_update(key_share=True)  # the claims of this business take turns
            )
            if (
                cap is None
                or _in_flight(session, business_id) >= cap
                or _in_flight(session, business_id, run.id) >= run.concurrency
            ):
                return None
            now = utcnow()
            item_id = session.scalar(
                select(OutboundItem.id)
                .where(
                    OutboundItem.business_id == business_id,
                    OutboundItem.run_id == run.id,
                    OutboundItem.status == "pending",
                    OutboundItem.completed_at.is_(None)
                    | (OutboundItem.completed_at <= now - delay),
                )
                .order_by(OutboundItem.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if item_id is None:
                return None
            claimed = session.execute(
                update(OutboundItem)
                .where(
                    OutboundItem.business_id == business_id,
                    OutboundItem.id == item_id,
                    OutboundItem.status == "pending",
                )
                .values(
                    status="dialing",
                    attempts=OutboundItem.attempts + 1,
                    call_sid=None,
                    updated_at=now,
                )
                .returning(OutboundItem.id)
            ).first()
            if claimed is None:
                return None
            if (
                _in_flight(session, business_id) > cap
                or _in_flight(session, business_id, run.id) > run.concurrency
            ):
                raise _NoRoom
            return item_id
    except _NoRoom:
        return None


def _settle(session: Session, business_id: int, item_id: int, **values: object) -> None:
    session.execute(
        update(OutboundItem)
        .where(OutboundItem.business_id == business_id, OutboundItem.id == item_id)
        .values(updated_at=utcnow(), **values)
    )


def _fail(session: Session, business_id: int, item_id: int, reason: str) -> None:
    _settle(
        session, business_id, item_id, status="failed", completed_at=utcnow(), error=reason[:500]
    )


def dial(
    business_id: int,
    run_id: int,
    item_id: int,
    *,
    owner: str,
    twilio: TwilioRest,
    urls: CallUrls,
    retries: DialRetries,
    sleep: Callable[[float], None],
) -> bool:
    """Place the claimed call; False if the run stopped first (the item is then cancelled).

    Twilio answering 429 or 5xx, or a request that never reached it (connection refused),
    placed no call: the dial is tried again up to
    ``retries.retries`` times, ``retries.delay(n)`` apart, each try in a transaction of its own
    that renews the lease (a cancel in between is seen, and none waits for the pause); then the
    item fails with Twilio's answer. A request Twilio refused outright (a 4xx: an invalid
    number, error 21211) fails the item with that answer, and a phone not in E.164 form is not
    sent at all. A request Twilio may have carried out without answering (a timeout, a
    dropped connection, a 500, 502 or 504) is not repeated: it is looked up in Twilio's calls
    and recorded as placed if found; otherwise the item stays ``dialing`` for the driver's
    next lookups, as one interrupted mid-dial does (``unheard.py``), rather than risk calling
    the lead twice. A lead under erasure, or erased, is never dialed: the item is closed as
    the erasure closes it (``erased.py``), each try looking under its numbers' locks.
    """
    refused = 0
    while True:
        with tenant_session(business_id) as session:
            item = session.execute(
                select(
                    OutboundItem.phone,
                    OutboundItem.placed_at,
                    Business.phone_number,
                    Business.recording_enabled,
                )
                .join(Business, Business.id == OutboundItem.business_id)
                .where(OutboundItem.business_id == business_id, OutboundItem.id == item_id)
            ).one()
            if not renew_lease(session, business_id, run_id, owner):
                _settle(
                    session,
                    business_id,
                    item_id,
                    status="cancelled",
                    error="run stopped before this call was placed",
                )
                return False
            if erased_item_locked(session, business_id, item_id):
                close_erased_item(session, business_id, item_id)  # never dialed: its line frees
                log.info(
                    "outbound.erased_item_closed",
                    business_id=business_id,
                    run_id=run_id,
                    item_id=item_id,
                )
                return True
            if not is_e164(item.phone):  # an item of a run created before runs checked
                _fail(session, business_id, item_id, NOT_E164)
                return True
            began = utcnow()
            try:
                call = twilio.place_call(
                    item.phone,
                    item.phone_number,
                    urls.twiml(business_id, run_id, item_id),
                    status_callback=urls.status(business_id, run_id, item_id),
                    record=item.recording_enabled,
                )
            except PermanentIntegrationError as exc:  # refused, so no call went out
                _fail(session, business_id, item_id, f"Twilio refused the call: {exc}")
                return True
            except RetryableIntegrationError as exc:
                refused += 1
                if not exc.outcome_known:
                    lookup = calls_since(
                        business_id,
                        twilio,
                        to=item.phone,
                        from_=item.phone_number,
                        since=began,
                        previous_call_at=item.placed_at,
                    )
                    outcome = settle_unheard_dial(
                        session, business_id, item_id, lookup, began=began
                    )
                    log.info(
                        "outbound.dial_unanswered",
                        business_id=business_id,
                        run_id=run_id,
                        item_id=item_id,
                        outcome=outcome,
                        twilio_status=exc.status,  # None: no answer came
                    )
                    return True
                if refused > retries.retries:
                    _fail(
                        session,
                        business_id,
                        item_id,
                        f"Twilio refused the call {refused} times: {exc}",
                    )
                    return True
                _settle(session, business_id, item_id, error=f"trying again: {exc}"[:500])
            else:
                _settle(session, business_id, item_id, **placed_values(call.sid))
                log.info(
                    "outbound.call_placed", business_id=business_id, run_id=run_id, item_id=item_id
                )
                return True
        log.warning(
            "outbound.dial_refused", business_id=business_id, run_id=run_id, item_id=item_id
        )
        sleep(retries.delay(refused))
