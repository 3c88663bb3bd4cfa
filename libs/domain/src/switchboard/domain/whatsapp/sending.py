"""Sending a stored outbound WhatsApp message through Twilio Messaging.

The message is claimed before the call and the outcome recorded after, each its own unit of
work and a method of the :class:`SendLedger` port. :class:`OrmSendLedger` is the portable
adapter (SQLAlchemy's ORM, on SQLite and PostgreSQL alike); the worker's bootstrap gives
PostgreSQL one that makes each one function call.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.errors import IntegrationError, PermanentIntegrationError
from switchboard.common.integrations.twilio_rest import (
    SentMessage,
    TwilioRest,
    whatsapp_address,
)
from switchboard.common.jobs.catalog import SEND_WHATSAPP_MESSAGE, SEND_WHATSAPP_WITH_RETRY
from switchboard.common.jobs.service import on_retry
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage
from switchboard.domain.unrecorded import first_unrecorded
from switchboard.domain.whatsapp.delivery import NOT_DELIVERED
from switchboard.domain.whatsapp.window import (
    WINDOW_CLOSED_ERROR,
    Template,
    is_open,
    known_open,
    message_window_end,
)

log = get_logger(__name__)

#: A message is ``sending`` from the moment an attempt starts until the attempt knows whether
#: Twilio took it. A later attempt that finds it still ``sending`` asks Twilio first.
SENDING = "sending"
#: How far before a message's creation Twilio may date one of its attempts (clock skew).
_CLOCK_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class Outgoing:
    """A claimed message: Twilio's addresses and the text (or the template)."""

    to: str
    from_: str
    #: The text; on a template message what it stores for the console (``template_body``).
    body: str
    #: When the message was stored: every attempt to send it began later.
    created_at: datetime
    #: When the last attempt began that never learnt whether Twilio took the message.
    unsettled_since: datetime | None
    #: A template message's template, sent instead of ``body``; None for a free-form one.
    template: Template | None = None


class SendUnsettled(Exception):
    """An earlier attempt may have reached Twilio, which does not list the message yet.

    Nothing was sent: the job steps back and looks again after ``retry_in`` (the rest of
    the lookup window), and sends only if Twilio still does not list it then.
    """

    def __init__(self, message_id: int, retry_in: timedelta) -> None:
        super().__init__(f"message {message_id}: an earlier attempt may still be listed by Twilio")
        self.retry_in = retry_in


def template_of(content_sid: str | None, content_variables: str | None) -> Template | None:
    """A stored message's template; None for a free-form message."""
    return None if content_sid is None else Template(content_sid, content_variables)


def missing(business_id: int, message_id: int) -> NotFoundError:
    """The error for a message the business does not have."""
    return NotFoundError(f"WhatsAppMessage {message_id} not found for business {business_id}")


def not_outbound(message_id: int) -> NotFoundError:
    """The error for a message that is not one of the business's own."""
    return NotFoundError(f"message {message_id} is not an outbound message")


class SendLedger(abc.ABC):
    """Where a send attempt is claimed on its message and its outcome recorded."""

    @abc.abstractmethod
    def claim(self, business_id: int, message_id: int) -> Outgoing | None:
        """Claim the message for one more attempt; None if it is already sent or failed.

        A queued message becomes :data:`SENDING` (``updated_at`` now). One already
        ``sending`` keeps its ``updated_at``, returned as ``unsettled_since``: the attempt
        must look it up at Twilio before it may :meth:`retake` it. Raises :func:`missing` or
        :func:`not_outbound`'s error.
        """

    @abc.abstractmethod
    def retake(self, business_id: int, message_id: int, unsettled_since: datetime) -> bool:
        """Begin a new attempt on a message still unsettled since ``unsettled_since``
        (``updated_at`` now); False if another attempt changed it meanwhile."""

    @abc.abstractmethod
    def record(
        self, business_id: int, message_id: int, status: str, sid: str | None, error: str | None
    ) -> None:
        """The attempt's outcome on the message (Twilio's sid, when there is one, kept).

        Twilio may report on the message before the attempt hears back (``delivery.py``): a
        report that it was not delivered has made it ``failed`` with Twilio's error, and that
        stays; the ``delivery_status`` is never the attempt's to write."""


class OrmSendLedger(SendLedger):
    """Claim and record through the ORM, each in a ``tenant_session`` transaction."""

    def claim(self, business_id: int, message_id: int) -> Outgoing | None:
        """Claim the message; None if it is already sent or failed."""
        with tenant_session(business_id) as session:
            message = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            if message.direction != "out":
                raise not_outbound(message_id)
            if message.status in ("sent", "failed"):
                return None
            conversation = owned_row(
                session, WhatsAppConversation, business_id, message.conversation_id
            )
            outgoing = Outgoing(
                whatsapp_address(conversation.contact_number),
                whatsapp_address(conversation.business_number),
                message.body,
                as_utc(message.created_at),
                as_utc(message.updated_at) if message.status == SENDING else None,
                template_of(message.content_sid, message.content_variables),
            )
            if outgoing.unsettled_since is None:
                message.status = SENDING
                message.attempts += 1
            else:  # counted, while ``updated_at`` goes on saying when that attempt began
                _keep_updated_at(session, business_id, message_id, attempts=message.attempts + 1)
            return outgoing

    def retake(self, business_id: int, message_id: int, unsettled_since: datetime) -> bool:
        """Restart the unsettled attempt's clock unless another attempt moved it."""
        with tenant_session(business_id) as session:
            message = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            if message.status != SENDING or as_utc(message.updated_at) != unsettled_since:
                return False
            message.updated_at = utcnow()
            return True

    def record(
        self, business_id: int, message_id: int, status: str, sid: str | None, error: str | None
    ) -> None:
        """The attempt's outcome on the message."""
        with tenant_session(business_id) as session:
            message = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            if message.delivery_status in NOT_DELIVERED:  # Twilio reported it first
                message.status = "failed"
            else:
                message.status, message.error = status, error
            if sid is not None:
                message.message_sid = sid


def _keep_updated_at(session: Session, business_id: int, message_id: int, **values: Any) -> None:
    """Update the message without moving ``updated_at``."""
    session.execute(
        update(WhatsAppMessage)
        .where(WhatsAppMessage.business_id == business_id, WhatsAppMessage.id == message_id)
        .values(updated_at=WhatsAppMessage.updated_at, **values)
        .execution_options(synchronize_session=False)
    )


def reopen_failed_send(session: Session, business_id: int, kwargs: Mapping[str, Any]) -> None:
    """A dead send job retried: its failed message is unsettled again, so the job sends it.

    It becomes ``sending``, not ``queued``: the failed attempt may have reached Twilio unheard,
    so the retry looks the message up before it sends. ``updated_at`` still says when that
    attempt began, which starts the lookup window.

    A message Twilio reported not delivered (``delivery.NOT_DELIVERED``) stays ``failed`` with
    Twilio's error: Twilio took it and WhatsApp refused it, so sending it again could reach the
    customer twice, or a number that blocked the business.
    """
    message_id = kwargs.get("message_id")
    if not isinstance(message_id, int):
        return
    session.execute(
        update(WhatsAppMessage)
        .where(
            WhatsAppMessage.business_id == business_id,
            WhatsAppMessage.id == message_id,
            WhatsAppMessage.direction == "out",
            WhatsAppMessage.status == "failed",
            or_(
                WhatsAppMessage.delivery_status.is_(None),
                WhatsAppMessage.delivery_status.not_in(NOT_DELIVERED),
            ),
        )
        .values(status=SENDING, error=None, updated_at=WhatsAppMessage.updated_at)
        .execution_options(synchronize_session=False)
    )


on_retry(SEND_WHATSAPP_MESSAGE, reopen_failed_send)
on_retry(SEND_WHATSAPP_WITH_RETRY, reopen_failed_send)


def _sent_since(
    business_id: int, message_id: int, outgoing: Outgoing, twilio: TwilioRest, since: datetime
) -> str | None:
    """The sid Twilio gave an attempt of this message begun at ``since``, if it reached Twilio."""
    # Twilio lists a template message with the template's text, which we do not know: any
    # message to the contact since then that none of ours recorded is taken for it.
    candidates = twilio.find_whatsapp(
        outgoing.to,
        outgoing.from_,
        outgoing.body if outgoing.template is None else None,
        created_after=since - _CLOCK_SLACK,
    )
    if not candidates:
        return None
    # The same text sent as another of our messages is that message's, not this one's.
    with tenant_session(business_id) as session:
        return first_unrecorded(
            session, WhatsAppMessage.message_sid, business_id, candidates, own_id=message_id
        )


def send_outbound(
    business_id: int,
    message_id: int,
    twilio: TwilioRest,
    ledger: SendLedger,
    *,
    final: bool,
    lookup_window: timedelta,
    window_open_until_ms: int | None = None,
) -> bool:
    """Send the message once; True if sent, False if it was already sent or failed, or fails
    now because WhatsApp's 24-hour window closed on a free-form message (``window.py``: no
    call to Twilio, no retry; not read while the job's ``window_open_until_ms`` holds).

    A failure is recorded on the message. It becomes ``failed`` (visible in the conversation)
    when it is permanent or this was the ``final`` attempt; otherwise the error is re-raised so
    the job system retries with backoff. Twilio's own error answer means nothing was sent
    (``queued`` again). With no answer at all, the attempt asks Twilio whether the message
    arrived; if that cannot be told either, it stays ``sending``, as it does when a worker dies
    mid-send or the database fails after Twilio took the message.

    An attempt that finds the message ``sending`` looks it up at Twilio (every attempt since
    the message was stored) and records the sid it finds. Found nowhere, it sends only once
    ``lookup_window`` has passed since the unsettled attempt began, Twilio's time to list a
    message it took, as of the lookup's start; before that it raises :class:`SendUnsettled`
    having sent nothing.
    """
    began = utcnow()
    outgoing = ledger.claim(business_id, message_id)
    if outgoing is None:
        return False
    return send_claimed(
        business_id,
        message_id,
        outgoing,
        twilio,
        ledger,
        final=final,
        lookup_window=lookup_window,
        began=began,
        window_open_until_ms=window_open_until_ms,
    )


def send_claimed(
    business_id: int,
    message_id: int,
    outgoing: Outgoing,
    twilio: TwilioRest,
    ledger: SendLedger,
    *,
    final: bool,
    lookup_window: timedelta,
    began: datetime,
    window_open_until_ms: int | None = None,
) -> bool:
    """Send a message this attempt holds the claim of, as :func:`send_outbound` says: claimed
    by :meth:`SendLedger.claim`, or stored claimed (the agent's reply, sent by the job that
    wrote it). ``began``: when the attempt began, before its claim."""
    if outgoing.unsettled_since is not None:
        # Whether the window has passed is judged at the lookup's start: a lookup begun inside
        # it may miss a message Twilio lists while the lookup runs.
        looked_at = utcnow()
        try:
            earlier = _sent_since(business_id, message_id, outgoing, twilio, outgoing.created_at)
        except IntegrationError as exc:  # cannot tell: sending now might send it twice
            _record_failure(ledger, business_id, message_id, exc, "failed" if final else SENDING)
            raise
        if earlier is not None:
            return _record_sent(ledger, business_id, message_id, earlier, earlier_attempt=True)
        wait = outgoing.unsettled_since + lookup_window - looked_at
        if wait > timedelta(0) or not ledger.retake(
            business_id, message_id, outgoing.unsettled_since
        ):
            log.info("whatsapp.send_unsettled", business_id=business_id, message_id=message_id)
            raise SendUnsettled(message_id, max(wait, timedelta(0)))
    if (
        outgoing.template is None
        and not known_open(window_open_until_ms, utcnow())
        and not is_open(message_window_end(business_id, message_id), utcnow())
    ):
        # WhatsApp would not deliver it (Twilio's 63016): failed for good, nothing sent.
        ledger.record(business_id, message_id, "failed", None, WINDOW_CLOSED_ERROR)
        log.warning("whatsapp.window_closed", business_id=business_id, message_id=message_id)
        return False
    try:
        sent = _send(twilio, message_id, outgoing)
    except IntegrationError as exc:
        answered = exc.outcome_known  # Twilio said no, or never heard of it
        if not answered and (
            arrived := _lookup_after_silence(business_id, message_id, outgoing, twilio, began)
        ):
            return _record_sent(ledger, business_id, message_id, arrived, earlier_attempt=True)
        given_up = final or isinstance(exc, PermanentIntegrationError)
        status = "failed" if given_up else "queued" if answered else SENDING
        _record_failure(ledger, business_id, message_id, exc, status)
        raise
    return _record_sent(ledger, business_id, message_id, sent.sid, earlier_attempt=False)


def _send(twilio: TwilioRest, message_id: int, outgoing: Outgoing) -> SentMessage:
    if outgoing.template is None:
        return twilio.send_whatsapp(
            outgoing.to, outgoing.from_, outgoing.body, message_id=message_id
        )
    return twilio.send_whatsapp(
        outgoing.to,
        outgoing.from_,
        None,
        content_sid=outgoing.template.content_sid,
        content_variables=outgoing.template.variables,
        message_id=message_id,
    )


def _lookup_after_silence(
    business_id: int, message_id: int, outgoing: Outgoing, twilio: TwilioRest, began: datetime
) -> str | None:
    try:
        return _sent_since(business_id, message_id, outgoing, twilio, began)
    except IntegrationError:
        return None  # still unknown: the message stays ``sending`` for the next attempt


def _record_sent(
    ledger: SendLedger, business_id: int, message_id: int, sid: str, *, earlier_attempt: bool
) -> bool:
    """``earlier_attempt``: the sid came from a lookup, of a request that got no answer."""
    ledger.record(business_id, message_id, "sent", sid, None)
    log.info(
        "whatsapp.sent",
        business_id=business_id,
        message_id=message_id,
        message_sid=sid,
        found_at_twilio=earlier_attempt,
    )
    return True


def _record_failure(
    ledger: SendLedger, business_id: int, message_id: int, exc: IntegrationError, status: str
) -> None:
    ledger.record(business_id, message_id, status, None, str(exc)[:500])
    log.warning(
        "whatsapp.send_failed", business_id=business_id, message_id=message_id, outcome=status
    )
