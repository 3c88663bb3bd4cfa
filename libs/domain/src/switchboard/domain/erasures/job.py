"""Erasing one person's data: the job behind ``POST /api/v1/erasures``.

The person is their number: the leads with it, the calls from or to it (or linked to those
leads), those calls' recordings and sessions, the WhatsApp conversations with it (their
messages and sessions go with them), the reminders of those leads, the outbound items that
dial it or are those leads' (blanked: the run's history stays; ``items.py``), the webhook
deliveries whose payload names the number or one of those calls, the stored
``Idempotency-Key`` answers that name them (blanked: a repeat of the request is told it was
carried out, and is not carried out again, which would bring the person back), and the parked
call events whose body names them.

Each kind is one step: its rows are found afresh from what is left, deleted, and its count
added to the erasure's, in one transaction. A worker that dies between steps leaves the
finished ones done and counted; the redelivered job finds nothing left of them and goes on.
Recordings go one at a time (stored audio, then Twilio's copy, where a 404 means already gone,
then the row with its count), so a death between the outside deletes and the row costs only
deleting them again. The order matters: a step finds its rows through those a later step
deletes (deliveries through the calls, reminders and items through the leads); recordings
come after the calls, found through the calls' keyed hashes this erasure kept.
The last transaction marks the erasure done and clears its number. Nothing is logged but ids
and counts. Parked events are infrastructure, out of the tenant role's reach: their step runs
in a system unit of work, on the business's events only (``event_business_id``).

The person's calls are remembered for good as keyed hashes of their sids (``erased_calls``),
at the start (a recording job refuses them from then on) and again in the step that deletes
them (a call since the start too): a recording of one that comes after the erasure, its
callback late or retried or its job queued, is deleted at Twilio and never downloaded,
transcribed or announced (``calls/recordings.py``, ``calls/followups.py``), and a late event
of one writes nothing. The calls step remembers each call under the call's lock, which a
recording's attach and a call event's writes take too (``erased_calls.lock_call``): one that
commits first is removed by the steps after it, one after it finds the call erased.

The rows a job names by id (call logs, webhook deliveries, WhatsApp messages, conversations
and sessions, reminders) are remembered by id as they are deleted (``erased_rows.py``): a job
queued for one before the erasure ends quietly, its work no longer owed. None goes by a
cascade, unremembered: the conversations step holds its conversations' rows, then deletes
their messages (one that arrived since the messages step, too) and sessions itself.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, Delete, Text, Update, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from switchboard.common.bootstrap import Adapters
from switchboard.common.db.base import utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.logging import get_logger
from switchboard.common.models import (
    CallLog,
    CallSession,
    ErasedCall,
    Erasure,
    IdempotencyKey,
    Lead,
    OutboundItem,
    ParkedEvent,
    Recording,
    Reminder,
    SandboxMessage,
    WebhookDelivery,
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)
from switchboard.domain.erasures.erased_calls import call_sid_hash, remember_erased_calls
from switchboard.domain.erasures.erased_rows import delete_remembered
from switchboard.domain.erasures.items import persons_item

log = get_logger(__name__)

#: Why a blanked outbound item that was still to be dialled never will be.
ERASED_ITEM = "erased on the person's request"
#: The number of an outbound item that dialed an erased person (the item, the run's history,
#: stays).
BLANKED = ""


def erased_item_closed() -> dict[str, Any]:
    """The columns of an outbound item of an erased person closed, never to be dialed."""
    return {"status": "cancelled", "error": ERASED_ITEM, "completed_at": utcnow()}


@dataclass(frozen=True)
class _Person:
    business_id: int
    phone: str
    erasure_id: int

    @property
    def numbers(self) -> tuple[str, str]:
        """The number as calls and chats store it (a WhatsApp address may keep its prefix)."""
        return self.phone, f"whatsapp:{self.phone}"


def _lead_ids(session: Session, person: _Person) -> list[int]:
    return list(
        session.execute(
            select(Lead.id).where(
                Lead.business_id == person.business_id, Lead.phone == person.phone
            )
        ).scalars()
    )


def _calls(session: Session, person: _Person) -> list[tuple[int, str]]:
    """The person's calls: (id, sid)."""
    leads = _lead_ids(session, person)
    rows = session.execute(
        select(CallLog.id, CallLog.call_sid).where(
            CallLog.business_id == person.business_id,
            or_(
                CallLog.from_number.in_(person.numbers),
                CallLog.to_number.in_(person.numbers),
                CallLog.lead_id.in_(leads),
            ),
        )
    ).all()
    return [(row.id, row.call_sid) for row in rows]


def _affected(session: Session, statement: Delete | Update) -> int:
    """How many rows ``statement`` deleted or changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(typing.cast(CursorResult[Any], result).rowcount or 0)


def _count(session: Session, person: _Person, erasure_id: int, kind: str, erased: int) -> None:
    """Add ``erased`` to the erasure's count of ``kind``, in the transaction that erased them."""
    erasure = owned_row(session, Erasure, person.business_id, erasure_id, lock=True)
    counts = dict(erasure.counts or {})
    counts[kind] = counts.get(kind, 0) + erased
    erasure.counts = counts


def _erased(session: Session, person: _Person, statement: Delete) -> int:
    """How many rows ``statement`` deleted, each remembered by id (``erased_rows.py``): a job
    queued for one of them finds it erased, not missing."""
    return delete_remembered(session, person.business_id, person.erasure_id, statement)


def _webhook_deliveries(session: Session, person: _Person) -> int:
    mentions = [text.decode() for text in _mentions(session, person)]
    payload = cast(WebhookDelivery.payload, Text)
    return _erased(
        session,
        person,
        delete(WebhookDelivery).where(
            WebhookDelivery.business_id == person.business_id,
            or_(*(payload.contains(text, autoescape=True) for text in mentions)),
        ),
    )


def _mentions(session: Session, person: _Person) -> list[bytes]:
    """What names the person in a stored body: the number, or one of their calls' sids."""
    return [text.encode() for text in (person.phone, *(sid for _, sid in _calls(session, person)))]


def _naming(rows: Any, mentions: list[bytes]) -> list[int]:
    """The ids of ``rows`` (id, body) whose body names the person. Read here rather than in
    SQL: the bodies are bytes (no portable ``LIKE``), and a business holds only a day of
    answers and a backlog of parked events."""
    return [row.id for row in rows if row.body and any(text in row.body for text in mentions)]


def _idempotency_answers(session: Session, person: _Person) -> int:
    """Blank the stored answers that name the person. The row stays, marked carried out and
    unanswered: a repeat of the request is a 409 saying so (``api/idempotency.py``), not the
    request done again (which would bring the person back). Counted once: a blanked answer
    names no one."""
    rows = session.execute(
        select(IdempotencyKey.id, IdempotencyKey.body).where(
            IdempotencyKey.business_id == person.business_id, IdempotencyKey.body.is_not(None)
        )
    ).all()
    ids = _naming(rows, _mentions(session, person))
    return _affected(
        session,
        update(IdempotencyKey)
        .where(IdempotencyKey.business_id == person.business_id, IdempotencyKey.id.in_(ids))
        .values(status_code=None, body=None, work_committed=True, updated_at=utcnow()),
    )


def _parked_events(session: Session, person: _Person) -> int:
    """The business's parked call events whose body names the person (a system unit of work:
    the table is infrastructure, its rows keyed by the business the event names)."""
    rows = session.execute(
        select(ParkedEvent.id, ParkedEvent.body).where(
            ParkedEvent.event_business_id == person.business_id
        )
    ).all()
    ids = _naming(rows, _mentions(session, person))
    return _affected(
        session,
        delete(ParkedEvent).where(
            ParkedEvent.event_business_id == person.business_id, ParkedEvent.id.in_(ids)
        ),
    )


def _remember_calls(session: Session, person: _Person) -> list[tuple[int, str]]:
    """The person's calls, their sids' keyed hashes kept for good (``erased_calls.py``): a
    recording of one that comes after this is refused."""
    calls = _calls(session, person)
    remember_erased_calls(session, person.business_id, person.erasure_id, (sid for _, sid in calls))
    return calls


def _calls_step(session: Session, person: _Person) -> int:
    calls = _remember_calls(session, person)  # a call since the start is remembered too
    ids, sids = [call_id for call_id, _ in calls], [sid for _, sid in calls]
    session.execute(
        delete(CallSession)
        .where(CallSession.business_id == person.business_id, CallSession.call_sid.in_(sids))
        .execution_options(synchronize_session=False)
    )
    return _erased(
        session,
        person,
        delete(CallLog).where(CallLog.business_id == person.business_id, CallLog.id.in_(ids)),
    )


def _conversation_ids(session: Session, person: _Person, *, lock: bool = False) -> list[int]:
    """The person's conversations; with ``lock``, their rows held ``FOR UPDATE`` until the
    step's transaction ends: no message or session of theirs can be added meanwhile (its
    insert waits on the conversation's row, then finds it gone)."""
    leads = _lead_ids(session, person)
    query = select(WhatsAppConversation.id).where(
        WhatsAppConversation.business_id == person.business_id,
        or_(
            WhatsAppConversation.contact_number.in_(person.numbers),
            WhatsAppConversation.lead_id.in_(leads),
        ),
    )
    if lock:
        query = query.order_by(WhatsAppConversation.id).with_for_update()
    return list(session.execute(query).scalars())


def _messages_of(session: Session, person: _Person, conversations: list[int]) -> int:
    return _erased(
        session,
        person,
        delete(WhatsAppMessage).where(
            WhatsAppMessage.business_id == person.business_id,
            WhatsAppMessage.conversation_id.in_(conversations),
        ),
    )


def _whatsapp_messages(session: Session, person: _Person) -> int:
    return _messages_of(session, person, _conversation_ids(session, person))


def _whatsapp_conversations(session: Session, person: _Person) -> int:
    """The conversations, held first (:func:`_conversation_ids`), with their messages and
    sessions (deleted here, not by the cascade, to be remembered: a message that arrived
    since the messages step, counted with them), and the sandbox's copies of the messages."""
    conversations = _conversation_ids(session, person, lock=True)
    late = _messages_of(session, person, conversations)
    if late:
        _count(session, person, person.erasure_id, "whatsapp_messages", late)
    _erased(
        session,
        person,
        delete(WhatsAppSession).where(
            WhatsAppSession.business_id == person.business_id,
            WhatsAppSession.conversation_id.in_(conversations),
        ),
    )
    session.execute(
        delete(SandboxMessage)
        .where(
            SandboxMessage.business_id == person.business_id,
            or_(
                SandboxMessage.to_number.in_(person.numbers),
                SandboxMessage.from_number.in_(person.numbers),
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return _erased(
        session,
        person,
        delete(WhatsAppConversation).where(
            WhatsAppConversation.business_id == person.business_id,
            WhatsAppConversation.id.in_(conversations),
        ),
    )


def _reminders(session: Session, person: _Person) -> int:
    return _erased(
        session,
        person,
        delete(Reminder).where(
            Reminder.business_id == person.business_id,
            Reminder.lead_id.in_(_lead_ids(session, person)),
        ),
    )


def _outbound_items(session: Session, person: _Person) -> int:
    """Blank the number of the person's items (``items.py``); those still to be dialled are
    cancelled. Status, attempts and call sids stay: the run's history. Counted once: a blanked
    item no longer matches."""
    mine = persons_item(person.business_id, person.phone)  # as a dial looks for them
    base = (OutboundItem.business_id == person.business_id, OutboundItem.phone != BLANKED, mine)
    session.execute(
        update(OutboundItem)
        .where(*base, OutboundItem.status == "pending")
        .values(**erased_item_closed())
        .execution_options(synchronize_session=False)
    )
    return _affected(
        session,
        update(OutboundItem).where(*base).values(phone=BLANKED, updated_at=utcnow()),
    )


def _leads(session: Session, person: _Person) -> int:
    return _affected(
        session,
        delete(Lead).where(Lead.business_id == person.business_id, Lead.phone == person.phone),
    )


#: The calls step, then recordings (their own loop: outside effects), then these, in order.
_STEPS: tuple[tuple[str, Callable[[Session, _Person], int]], ...] = (
    ("whatsapp_messages", _whatsapp_messages),
    ("whatsapp_conversations", _whatsapp_conversations),
    ("reminders", _reminders),
    ("outbound_items", _outbound_items),
    ("leads", _leads),
)


#: The steps before recordings, in order: what names the person's calls goes before them,
#: then the calls (remembered under their locks); recordings are found through those.
_FIRST_STEPS: tuple[tuple[str, Callable[[Session, _Person], int]], ...] = (
    ("webhook_deliveries", _webhook_deliveries),
    ("idempotency_answers", _idempotency_answers),
    ("parked_events", _parked_events),
    ("calls", _calls_step),
)

#: The steps that erase infrastructure rows, run in a system unit of work.
_SYSTEM_STEPS = frozenset({"parked_events"})

#: What an erasure counts, in the order the job erases it.
ERASED_KINDS = (
    *(kind for kind, _ in _FIRST_STEPS),
    "recordings",
    *(kind for kind, _ in _STEPS),
)


def _step(
    person: _Person, erasure_id: int, kind: str, erase: Callable[[Session, _Person], int]
) -> None:
    unit = system_session() if kind in _SYSTEM_STEPS else tenant_session(person.business_id)
    with unit as session:
        _count(session, person, erasure_id, kind, erase(session, person))


def _erased_recordings(session: Session, person: _Person) -> list[Any]:
    """The recordings of the calls this erasure remembered, found by their sids' keyed hashes
    (the calls themselves are gone by now): with the ones a recording job attached before the
    calls step took its calls' locks. A business keeps a week of recordings: read here."""
    remembered = set(
        session.execute(
            select(ErasedCall.call_sid_hash).where(
                ErasedCall.business_id == person.business_id,
                ErasedCall.erasure_id == person.erasure_id,
            )
        ).scalars()
    )
    rows = session.execute(
        select(Recording.id, Recording.recording_sid, Recording.storage_key, Recording.call_sid)
        .where(Recording.business_id == person.business_id)
        .order_by(Recording.id)
    ).all()
    return [row for row in rows if call_sid_hash(person.business_id, row.call_sid) in remembered]


def _recordings(person: _Person, erasure_id: int, adapters: Adapters) -> None:
    """Each recording of the person's calls: our audio, Twilio's copy, then the row and its
    count in one transaction. Runs after the calls step: every recording attached before
    that step remembered its call is found here, and a job after it refuses its own."""
    with tenant_session(person.business_id) as session:
        recordings = _erased_recordings(session, person)
    for recording in recordings:
        if recording.storage_key:
            adapters.storage.delete(recording.storage_key)
        adapters.twilio.delete_recording(recording.recording_sid)  # False: gone already
        with tenant_session(person.business_id) as session:
            erased = _affected(
                session,
                delete(Recording).where(
                    Recording.business_id == person.business_id, Recording.id == recording.id
                ),
            )
            _count(session, person, erasure_id, "recordings", erased)


def _start(business_id: int, erasure_id: int) -> _Person | None:
    """The person to erase, the erasure marked running and their calls remembered (a
    recording job from now on refuses them); None once it is done."""
    with tenant_session(business_id) as session:
        erasure = owned_row(session, Erasure, business_id, erasure_id, what="erasure", lock=True)
        if erasure.status == "done" or erasure.phone is None:
            return None
        erasure.status = "running"
        person = _Person(business_id, erasure.phone, erasure_id)
        _remember_calls(session, person)
        return person


def _finish(business_id: int, erasure_id: int) -> dict[str, int]:
    with tenant_session(business_id) as session:
        erasure = owned_row(session, Erasure, business_id, erasure_id, lock=True)
        erasure.status, erasure.phone, erasure.finished_at = "done", None, utcnow()
        return dict(erasure.counts or {})


def run_erasure(business_id: int, erasure_id: int, adapters: Adapters) -> bool:
    """Erase the person the erasure names; False when it was done already (a redelivery)."""
    person = _start(business_id, erasure_id)
    if person is None:
        return False
    for kind, erase in _FIRST_STEPS:
        _step(person, erasure_id, kind, erase)
    _recordings(person, erasure_id, adapters)  # after the calls: found by their hashes
    for kind, erase in _STEPS:
        _step(person, erasure_id, kind, erase)
    counts = _finish(business_id, erasure_id)
    log.info("erasures.done", business_id=business_id, erasure_id=erasure_id, **counts)
    return True
