"""A person's data in one business, as an erasure finds it: a world (``world.py``) whose lead,
call and chat are the person's, plus recordings stored here and at Twilio, an outbound run
that dials them, stored idempotency answers and parked call events naming them, and another
person's lead, webhook delivery, answer and parked event that must stay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from switchboard.common.bootstrap import adapters
from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.storage import RecordingStorage, make_recording_storage
from switchboard.common.models import (
    Erasure,
    IdempotencyKey,
    Lead,
    OutboundItem,
    ParkedEvent,
    Recording,
    WebhookDelivery,
)
from switchboard.common.settings import Settings
from switchboard.domain.erasures import request_erasure, run_erasure
from switchboard.domain.outbound import runs
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import unique_phone
from tests.unit.worker.world import World, add, make_world, sid, snapshot

#: What erasing the person of :func:`person_world` counts.
ERASED = {
    "webhook_deliveries": 2,  # the world's two, naming the person's call
    "idempotency_answers": 2,  # one naming the number, one the call
    "parked_events": 2,  # one naming the number, one the call
    "calls": 1,
    "recordings": 3,  # the world's (no copy at Twilio any more) and two at Twilio
    "whatsapp_messages": 2,
    "whatsapp_conversations": 1,
    "reminders": 1,
    "outbound_items": 1,
    "leads": 1,
}


@dataclass
class Person:
    world: World
    phone: str
    recording_sids: list[str]
    audio_keys: list[str]
    item_id: int
    kept_lead_id: int
    kept_delivery_id: int
    answer_ids: list[int]
    kept_answer_id: int
    parked_ids: list[int]
    kept_parked_id: int

    @property
    def business_id(self) -> int:
        return self.world.id


def person_world(
    twilio: FakeTwilioServer, storage: RecordingStorage, phone: str | None = None
) -> Person:
    phone = phone or unique_phone()
    world = make_world(phone=phone)
    bid = world.id
    recording_sids, audio_keys = [], []
    for _ in range(2):
        recording_sid = twilio.add_recording(b"RIFF the person's voice", call_sid=world.call_sid)
        key = f"{bid}/{recording_sid}.wav"
        storage.put(key, b"RIFF the person's voice")
        add(
            bid,
            Recording(
                business_id=bid,
                recording_sid=recording_sid,
                call_sid=world.call_sid,
                call_log_id=world.call_log_id,
                storage_key=key,
                status="transcribed",
                transcript="I am Dana Smith",
            ),
        )
        recording_sids.append(recording_sid)
        audio_keys.append(key)
    run = runs.create_run(bid, runs.NewRun(name="Spring", lead_ids=[world.lead_id])).run
    other = add(bid, Lead(business_id=bid, phone=unique_phone(), name="Other", source="api"))
    kept = add(
        bid,
        WebhookDelivery(
            business_id=bid,
            endpoint_id=world.generic_endpoint_id,
            event_type="call.ended",
            event_id=f"ev-other-{other.id}",
            payload={"type": "call.ended", "call_sid": sid("CA"), "from_number": other.phone},
            status="delivered",
            attempt=1,
        ),
    )
    with system_session() as session:
        item_id = session.execute(
            select(OutboundItem.id).where(OutboundItem.run_id == run.id)
        ).scalar_one()
    answers = [
        answer(bid, {"id": world.lead_id, "phone": phone}),
        answer(bid, {"call_sid": world.call_sid, "status": "queued"}),
    ]
    kept_answer = answer(bid, {"id": other.id, "phone": other.phone})
    parked = [
        parked_event(bid, {"type": "call.started", "from_number": phone}),
        parked_event(bid, {"type": "call.ended", "call_sid": world.call_sid}),
    ]
    kept_parked = parked_event(bid, {"type": "call.started", "from_number": other.phone})
    return Person(
        world,
        phone,
        recording_sids,
        audio_keys,
        item_id,
        other.id,
        kept.id,
        answers,
        kept_answer,
        parked,
        kept_parked,
    )


def answer(business_id: int, body: dict[str, object]) -> int:
    """A stored ``Idempotency-Key`` answer (``api/idempotency.py``) with this JSON body."""
    row = add(
        business_id,
        IdempotencyKey(
            business_id=business_id,
            key=sid("key-"),
            request_hash="0" * 64,
            token="0" * 32,
            lease_until=utcnow() + timedelta(seconds=60),
            work_committed=True,
            status_code=201,
            body=json.dumps(body).encode(),
        ),
    )
    return int(row.id)


def parked_event(business_id: int, body: dict[str, object]) -> int:
    """A call event of the business the consumer parked (``api/events/parking.py``)."""
    event_id = sid("ev-")
    call_sid = body.get("call_sid")
    with system_session() as session:
        row = ParkedEvent(
            event_id=event_id,
            event_type=str(body["type"]),
            event_business_id=business_id,
            call_sid=call_sid if isinstance(call_sid, str) else None,
            body=json.dumps({"event_id": event_id, "business_id": business_id, **body}).encode(),
            error="RuntimeError: the handler failed",
        )
        session.add(row)
        session.flush()
        return int(row.id)


def parked_left(business_id: int) -> list[int]:
    """The ids of the business's parked events."""
    with system_session() as session:
        return sorted(
            session.execute(
                select(ParkedEvent.id).where(ParkedEvent.event_business_id == business_id)
            ).scalars()
        )


def traces(business_id: int, *texts: str) -> list[str]:
    """The rows of the business's data tables that still show any of ``texts``."""
    return [
        f"{table}: {row}"
        for table, rows in snapshot(business_id).items()
        for row in rows
        if any(text in repr(row) for text in texts)
    ]


def erasure_row(business_id: int, erasure_id: int) -> Erasure:
    with system_session() as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure is not None and erasure.business_id == business_id
        return erasure


def request_for(person: Person) -> Erasure:
    """Ask to erase the person as the API does (the world's own pending erasure row, which
    no job runs, is deleted first, or the request would answer it as a repeat)."""
    with tenant_session(person.business_id) as session:
        session.delete(session.get(Erasure, person.world.erasure_id))
    return request_erasure(person.business_id, person.phone).erasure


def erased_person(fake_twilio: FakeTwilioServer, settings: Settings) -> Person:
    """A :func:`person_world` whose erasure has run to its end."""
    person = person_world(fake_twilio, make_recording_storage(settings))
    assert run_erasure(person.business_id, person.world.erasure_id, adapters()) is True
    return person


def count_rows(business_id: int, model: Any) -> int:
    """How many rows of ``model`` the business has."""
    with tenant_session(business_id) as session:
        query = select(func.count()).select_from(model).where(model.business_id == business_id)
        return int(session.execute(query).scalar_one())


def late_recording(
    person: Person, fake_twilio: FakeTwilioServer, storage: RecordingStorage, **fields: Any
) -> str:
    """A recording of the person's call that came after the world was made: at Twilio, in
    ``storage`` and stored (``fields`` add to its row); its sid."""
    bid, call_sid = person.business_id, person.world.call_sid
    late = fake_twilio.add_recording(b"RIFF the person's voice", call_sid=call_sid)
    key = f"{bid}/{late}.wav"
    storage.put(key, b"RIFF the person's voice")
    add(
        bid,
        Recording(
            business_id=bid,
            recording_sid=late,
            call_sid=call_sid,
            storage_key=key,
            status="stored",
            **fields,
        ),
    )
    return str(late)
