"""Sending a WhatsApp reply on PostgreSQL: the worker's ``PostgresSendLedger`` (the claim and
record functions of migrations 0036 and 0007).

They must write what the portable ``OrmSendLedger`` writes (compared on one database), keep a
message from being sent twice, check the business, and carry the whole send through the real
``twilio`` client to the fake Twilio REST API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import OfflineAIText
from switchboard.common.integrations.errors import IntegrationError
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.models import Business, WhatsAppMessage
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.businesses.settings import update_business
from switchboard.domain.whatsapp import conversations, delivery, replies, sending, window
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from switchboard.worker.adapters.whatsapp_sending import PostgresSendLedger
from switchboard.worker.bootstrap import stores
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, fake_twilio
from tests.support.factories import make_business, unique_phone

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("whatsapp_queues")]
__all__ = ["fake_twilio"]
WINDOW = timedelta(seconds=2)
TEMPLATE = "HX" + "0123456789abcdef" * 2


def _reply_waiting_to_be_sent(business: Business) -> tuple[int, int]:
    """(inbound id, a queued reply's id) for a new contact: the agent's reply, put back to
    ``queued`` with no attempt, as an outbound message waits for its first send (the reply
    job stores its reply already claimed, and sends it itself)."""
    sid = f"SM{unique_phone()[1:]}s"
    inbound_id = store_inbound(
        business.id,
        InboundMessage(sid, f"whatsapp:{unique_phone()}", business.phone_number, "Hi there"),
    )
    assert inbound_id is not None
    reply = replies.reply_to_inbound(business.id, inbound_id, OfflineAIText(), stores().replies)
    assert reply is not None
    with tenant_session(business.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == reply.reply_id)
            .values(status="queued", attempts=0)
        )
    return inbound_id, reply.reply_id


def _state(business_id: int, message_id: int) -> tuple[Any, ...]:
    with tenant_session(business_id) as session:
        message = session.execute(
            select(WhatsAppMessage).where(WhatsAppMessage.id == message_id)
        ).scalar_one()
        return message.status, message.attempts, message.message_sid, message.error


def test_claim_and_record_write_what_the_portable_path_writes(pg: Settings) -> None:
    business = make_business()
    outcomes = []
    functions = PostgresSendLedger(get_settings().db_app_role)
    for twilio_sid, claim, record in (
        ("SM-functions", functions.claim, functions.record),
        ("SM-portable", sending.OrmSendLedger().claim, sending.OrmSendLedger().record),
    ):
        _, message_id = _reply_waiting_to_be_sent(business)
        first = claim(business.id, message_id)
        after_first = _state(business.id, message_id)
        again = claim(business.id, message_id)  # the first attempt never settled
        with tenant_session(business.id) as session:
            claimed_at = session.execute(
                select(WhatsAppMessage.updated_at).where(WhatsAppMessage.id == message_id)
            ).scalar_one()
        record(business.id, message_id, "queued", None, "Twilio said no")
        after_failure = _state(business.id, message_id)
        record(business.id, message_id, "sent", twilio_sid, None)
        after_sent = _state(business.id, message_id)
        assert after_sent[2] == twilio_sid
        record(business.id, message_id, "sent", None, None)  # a sid once known is kept
        assert _state(business.id, message_id)[2] == twilio_sid
        assert first is not None and again is not None
        assert first.unsettled_since is None and again.unsettled_since is not None
        assert again.unsettled_since == claimed_at  # kept: when the unsettled attempt began
        assert first.created_at == again.created_at <= claimed_at
        outcomes.append(
            (
                (first.body, first.to.startswith("whatsapp:"), first.from_),
                after_first,
                (again.body, again.to == first.to),
                after_failure,
                after_sent[:2],
                _state(business.id, message_id)[:2] + _state(business.id, message_id)[3:],
                claim(business.id, message_id),  # sent: nothing to claim
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == ("sending", 1, None, None)
    assert outcomes[0][3] == ("queued", 2, None, "Twilio said no")
    assert outcomes[0][5] == ("sent", 2, None)
    assert outcomes[0][6] is None


def test_another_business_s_message_or_an_inbound_one_is_refused(pg: Settings) -> None:
    owner, intruder = make_business(), make_business()
    inbound_id, reply_id = _reply_waiting_to_be_sent(owner)

    functions = PostgresSendLedger(get_settings().db_app_role)
    with pytest.raises(NotFoundError):
        functions.claim(intruder.id, reply_id)
    with pytest.raises(NotFoundError):
        functions.record(intruder.id, reply_id, "sent", "SM-forged", None)
    with pytest.raises(NotFoundError, match="not an outbound message"):
        functions.claim(owner.id, inbound_id)

    assert _state(owner.id, reply_id) == ("queued", 0, None, None)


def test_a_reply_is_sent_through_twilio_once(pg: Settings, fake_twilio: FakeTwilioServer) -> None:
    business = make_business()
    _, reply_id = _reply_waiting_to_be_sent(business)
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)

    assert sending.send_outbound(
        business.id, reply_id, twilio, stores().sends, final=False, lookup_window=WINDOW
    )
    assert not sending.send_outbound(
        business.id, reply_id, twilio, stores().sends, final=False, lookup_window=WINDOW
    )

    [sent] = fake_twilio.messages
    status, attempts, sid, error = _state(business.id, reply_id)
    assert (status, attempts, sid, error) == ("sent", 1, sent["sid"], None)
    assert sent["From"] == f"whatsapp:{business.phone_number}"


def test_a_send_twilio_refuses_is_queued_again_with_the_error(
    pg: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    _, reply_id = _reply_waiting_to_be_sent(business)
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
    fake_twilio.fail_next("create_message", status=503)

    with pytest.raises(IntegrationError):
        sending.send_outbound(
            business.id, reply_id, twilio, stores().sends, final=False, lookup_window=WINDOW
        )

    status, attempts, sid, error = _state(business.id, reply_id)
    assert (status, attempts, sid) == ("queued", 1, None) and error
    assert fake_twilio.messages == []


def test_a_send_twilio_took_but_answered_500_is_found_at_twilio_not_sent_again(
    pg: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """A 500 does not say Twilio did nothing (its gateway may fail after the message was
    created): the attempt looks the message up and records it instead of queuing it again."""
    business = make_business()
    _, reply_id = _reply_waiting_to_be_sent(business)
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
    fake_twilio.lose_answer_next("create_message", status=500)

    assert sending.send_outbound(
        business.id, reply_id, twilio, stores().sends, final=False, lookup_window=WINDOW
    )
    assert not sending.send_outbound(
        business.id, reply_id, twilio, stores().sends, final=False, lookup_window=WINDOW
    )

    [taken] = fake_twilio.messages
    assert _state(business.id, reply_id) == ("sent", 1, taken["sid"], None)


def test_an_unsettled_send_is_retaken_once_by_either_ledger(pg: Settings) -> None:
    business = make_business()
    for ledger in (PostgresSendLedger(get_settings().db_app_role), sending.OrmSendLedger()):
        _, message_id = _reply_waiting_to_be_sent(business)
        ledger.claim(business.id, message_id)
        unsettled = ledger.claim(business.id, message_id)
        assert unsettled is not None and unsettled.unsettled_since is not None

        assert ledger.retake(business.id, message_id, unsettled.unsettled_since)
        assert not ledger.retake(business.id, message_id, unsettled.unsettled_since)  # moved on
        again = ledger.claim(business.id, message_id)
        assert again is not None and again.unsettled_since is not None
        assert again.unsettled_since > unsettled.unsettled_since
        assert _state(business.id, message_id)[:2] == ("sending", 3)


def test_a_send_found_unsettled_waits_out_the_window_without_sending(
    pg: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    _, reply_id = _reply_waiting_to_be_sent(business)
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
    stores().sends.claim(business.id, reply_id)  # an attempt that died before it heard back

    with pytest.raises(sending.SendUnsettled) as unsettled:
        sending.send_outbound(
            business.id, reply_id, twilio, stores().sends, final=True, lookup_window=WINDOW
        )

    assert timedelta(0) < unsettled.value.retry_in <= WINDOW
    assert fake_twilio.messages == []
    assert _state(business.id, reply_id)[0] == "sending"


def test_after_a_number_move_the_functions_send_from_the_business_s_new_number(
    pg: Settings,
) -> None:
    moved = make_business()
    old, new = moved.phone_number, unique_phone()
    _, waiting_id = _reply_waiting_to_be_sent(moved)
    update_business(moved.id, {"phone_number": new}, {})
    update_business(make_business().id, {"phone_number": old}, {})  # another business takes it

    outgoing = PostgresSendLedger(get_settings().db_app_role).claim(moved.id, waiting_id)
    contact = outgoing.to if outgoing else ""
    inbound_id = store_inbound(
        moved.id, InboundMessage(f"SM{unique_phone()[1:]}m", contact, new, "Still on for ten?")
    )
    assert inbound_id is not None
    reply = replies.reply_to_inbound(moved.id, inbound_id, OfflineAIText(), stores().replies)

    assert outgoing is not None and outgoing.from_ == f"whatsapp:{new}"
    assert reply is not None and reply.outgoing is not None
    assert reply.outgoing.from_ == f"whatsapp:{new}"


def test_a_report_that_a_sent_reply_was_not_delivered_fails_it_under_row_level_security(
    pg: Settings,
) -> None:
    owner, other = make_business(), make_business()
    inbound_id, reply_id = _reply_waiting_to_be_sent(owner)
    functions = PostgresSendLedger(get_settings().db_app_role)
    assert functions.claim(owner.id, reply_id) is not None
    functions.record(owner.id, reply_id, "sent", "SM-delivered-not", None)
    with tenant_session(owner.id) as session:
        inbound_sid = session.scalar(
            select(WhatsAppMessage.message_sid).where(WhatsAppMessage.id == inbound_id)
        )
    assert inbound_sid is not None

    # Another business's number, or the customer's own message: nothing changes.
    assert not delivery.record_delivery(other.phone_number, "SM-delivered-not", "failed", "1")
    assert not delivery.record_delivery(owner.phone_number, inbound_sid, "failed", "1")
    assert not delivery.record_delivery(owner.phone_number, "SM-delivered-not", "queued", "")
    assert _state(owner.id, reply_id)[0] == "sent"

    assert delivery.record_delivery(
        f"whatsapp:{owner.phone_number}", "SM-delivered-not", "undelivered", "63016"
    )
    status, attempts, sid, error = _state(owner.id, reply_id)
    assert (status, attempts, sid) == ("failed", 1, "SM-delivered-not")
    assert error is not None and "63016" in error
    assert functions.claim(owner.id, reply_id) is None  # failed: no attempt sends it again
    # Not delivered is for good: a late report moves it nowhere.
    assert not delivery.record_delivery(owner.phone_number, "SM-delivered-not", "delivered", "")
    assert _delivery(owner.id, reply_id)[0] == "undelivered"


def _delivery(business_id: int, message_id: int) -> tuple[Any, ...]:
    with tenant_session(business_id) as session:
        message = session.execute(
            select(WhatsAppMessage).where(WhatsAppMessage.id == message_id)
        ).scalar_one()
        return message.delivery_status, message.delivery_status_at, message.status


def _sent_reply(business: Business, sid: str) -> int:
    """A reply the send functions recorded as taken by Twilio as ``sid``."""
    functions = PostgresSendLedger(get_settings().db_app_role)
    _, reply_id = _reply_waiting_to_be_sent(business)
    assert functions.claim(business.id, reply_id) is not None
    functions.record(business.id, reply_id, "sent", sid, None)
    return reply_id


def test_delivery_reports_move_forward_only_under_row_level_security(pg: Settings) -> None:
    owner, other = make_business(), make_business()
    first, second = f"SM{unique_phone()[1:]}a", f"SM{unique_phone()[1:]}b"
    reply_id, later_id = _sent_reply(owner, first), _sent_reply(owner, second)
    others_id = _sent_reply(other, f"SM{unique_phone()[1:]}c")
    others_sid = _state(other.id, others_id)[2]

    # Another business's message, named from the owner's number, is not found.
    for status in ("delivered", "read", "failed"):
        assert not delivery.record_delivery(owner.phone_number, others_sid, status, "63016")
        assert not delivery.record_delivery(other.phone_number, first, status, "63016")
    assert _delivery(other.id, others_id) == (None, None, "sent")

    # In order, each report once; Twilio's retries and late reports change nothing.
    assert delivery.record_delivery(owner.phone_number, first, "sent", "")
    assert delivery.record_delivery(owner.phone_number, first, "delivered", "")
    delivered = _delivery(owner.id, reply_id)
    assert delivered[0] == "delivered" and delivered[1] is not None
    assert not delivery.record_delivery(owner.phone_number, first, "delivered", "")
    assert not delivery.record_delivery(owner.phone_number, first, "sent", "")
    assert _delivery(owner.id, reply_id) == delivered
    assert delivery.record_delivery(owner.phone_number, first, "read", "")
    for late in ("read", "delivered", "sent", "undelivered", "failed"):
        assert not delivery.record_delivery(owner.phone_number, first, late, "63016")
    assert _delivery(owner.id, reply_id)[0::2] == ("read", "sent")

    # Out of order: read first, then its delivered and sent.
    assert delivery.record_delivery(owner.phone_number, second, "read", "")
    assert not delivery.record_delivery(owner.phone_number, second, "delivered", "")
    assert not delivery.record_delivery(owner.phone_number, second, "sent", "")
    assert _delivery(owner.id, later_id)[0::2] == ("read", "sent")

    # The send's claim is untouched: both are settled, nothing sends them again.
    functions = PostgresSendLedger(get_settings().db_app_role)
    assert functions.claim(owner.id, reply_id) is None
    assert functions.claim(owner.id, later_id) is None


def test_a_report_before_the_sid_is_recorded_outlives_the_record_of_either_ledger(
    pg: Settings,
) -> None:
    owner, other = make_business(), make_business()
    functions = PostgresSendLedger(get_settings().db_app_role)
    outcomes = []
    for ledger in (functions, sending.OrmSendLedger()):
        failed_sid, read_sid = f"SM{unique_phone()[1:]}f", f"SM{unique_phone()[1:]}r"
        _, failing = _reply_waiting_to_be_sent(owner)
        _, reading = _reply_waiting_to_be_sent(owner)
        for message_id in (failing, reading):
            assert ledger.claim(owner.id, message_id) is not None
        # Named by id from another business's number, or with a sid of another message: no.
        assert not delivery.record_delivery(other.phone_number, failed_sid, "failed", "1", failing)
        # Twilio reports on each before the send hears back.
        assert delivery.record_delivery(
            owner.phone_number, failed_sid, "undelivered", "63016", failing
        )
        assert delivery.record_delivery(owner.phone_number, read_sid, "read", "", reading)
        assert not delivery.record_delivery(owner.phone_number, read_sid, "failed", "1", failing)

        ledger.record(owner.id, failing, "sent", failed_sid, None)
        ledger.record(owner.id, reading, "sent", read_sid, None)

        failed, read = _state(owner.id, failing), _state(owner.id, reading)
        assert (failed[0], failed[2]) == ("failed", failed_sid) and "63016" in str(failed[3])
        assert (read[0], read[2], read[3]) == ("sent", read_sid, None)
        outcomes.append(
            (failed[0], _delivery(owner.id, failing)[0], _delivery(owner.id, reading)[0::2])
        )
    assert outcomes[0] == outcomes[1] == ("failed", "undelivered", ("read", "sent"))


def _template_waiting_to_be_sent(business: Business, variables: str) -> int:
    """A template message queued through the API's path in a conversation whose contact last
    wrote three days ago (outside WhatsApp's window)."""
    inbound_id, _ = _reply_waiting_to_be_sent(business)
    with tenant_session(business.id) as session:
        inbound = session.get(WhatsAppMessage, inbound_id)
        assert inbound is not None
        inbound.created_at = inbound.created_at - timedelta(days=3)
        conversation_id = inbound.conversation_id
    template = window.Template(TEMPLATE, variables)
    return conversations.send_message(business.id, conversation_id, None, template).message.id


def test_a_template_is_claimed_by_either_ledger_and_sent_with_its_sid_and_variables(
    pg: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    variables = '{"1": "Ana", "2": "9:00"}'
    claims = []
    for ledger in (PostgresSendLedger(get_settings().db_app_role), sending.OrmSendLedger()):
        claimed = ledger.claim(business.id, _template_waiting_to_be_sent(business, variables))
        assert claimed is not None
        claims.append((claimed.body, claimed.template))
    expected = (f"[template {TEMPLATE}]", window.Template(TEMPLATE, variables))
    assert claims[0] == claims[1] == expected

    message_id = _template_waiting_to_be_sent(business, variables)
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
    fake_twilio.lose_answer_next("create_message", status=500)  # taken, but answered 500
    assert sending.send_outbound(
        business.id, message_id, twilio, stores().sends, final=False, lookup_window=WINDOW
    )

    [sent] = fake_twilio.messages  # found at Twilio by the lookup, not sent twice
    assert (sent["ContentSid"], sent["ContentVariables"]) == (TEMPLATE, variables)
    assert "Body" not in sent
    assert _state(business.id, message_id) == ("sent", 1, sent["sid"], None)


def test_a_free_form_send_after_the_window_fails_without_calling_twilio(
    pg: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    inbound_id, reply_id = _reply_waiting_to_be_sent(business)
    with tenant_session(business.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == inbound_id)
            .values(created_at=WhatsAppMessage.created_at - timedelta(hours=25))
        )
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)

    assert not sending.send_outbound(
        business.id, reply_id, twilio, stores().sends, final=False, lookup_window=WINDOW
    )

    assert fake_twilio.messages == []
    assert _state(business.id, reply_id) == ("failed", 1, None, window.WINDOW_CLOSED_ERROR)


class _NoAgent(OfflineAIText):
    """The agent a reply past the window must not ask."""

    def answer(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the agent was asked")


def test_a_reply_past_the_window_fails_its_message_unanswered_under_row_level_security(
    pg: Settings,
) -> None:
    business, other = make_business(), make_business()
    stale = store_inbound(
        business.id,
        InboundMessage(
            "SM" + unique_phone()[1:] + "w",
            f"whatsapp:{unique_phone()}",
            business.phone_number,
            "Still open?",
        ),
    )
    assert stale is not None
    with tenant_session(business.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == stale)
            .values(created_at=WhatsAppMessage.created_at - timedelta(hours=25))
        )

    assert not window.fail_unanswerable(other.id, stale, utcnow())  # another business's
    assert replies.reply_to_inbound(business.id, stale, _NoAgent(), stores().replies) is None
    status, _, _, error = _state(business.id, stale)
    assert (status, error) == ("failed", window.UNANSWERED_ERROR)
    # 23 hours after it came, its window was still open: nothing to fail.
    assert not window.fail_unanswerable(business.id, stale, utcnow() - timedelta(hours=2))


def test_a_retried_send_reopens_a_failed_send_but_never_one_twilio_reported_undelivered(
    pg: Settings,
) -> None:
    """The retry hook of a dead send job (``sending.reopen_failed_send``) on PostgreSQL: the
    message its attempts failed to send is unsettled again; the one Twilio took and reported
    undelivered stays failed with Twilio's code, and the worker's claim does not send it."""
    owner = make_business()
    functions = PostgresSendLedger(get_settings().db_app_role)
    _, refused = _reply_waiting_to_be_sent(owner)
    _, undelivered = _reply_waiting_to_be_sent(owner)
    sid = f"SM{unique_phone()[1:]}u"
    for message_id in (refused, undelivered):
        assert functions.claim(owner.id, message_id) is not None
    functions.record(owner.id, refused, "failed", None, "Twilio POST failed: 503")
    functions.record(owner.id, undelivered, "sent", sid, None)
    assert delivery.record_delivery(owner.phone_number, sid, "undelivered", "63016", undelivered)
    reported = _state(owner.id, undelivered)

    with tenant_session(owner.id) as session:
        for message_id in (refused, undelivered):
            sending.reopen_failed_send(session, owner.id, {"message_id": message_id})

    assert _state(owner.id, refused)[0] == sending.SENDING
    assert _state(owner.id, undelivered) == reported
    assert functions.claim(owner.id, undelivered) is None
    with tenant_session(owner.id) as session:
        message = session.get(WhatsAppMessage, undelivered)
        assert message is not None
        assert (message.status, message.error_code) == ("failed", "63016")
