"""A person's data in one business, as an erasure finds it: a world (``world.py``) whose lead,
call and chat are the person's, plus recordings stored here and at Twilio, an outbound run
that dials them, and another person's lead and webhook delivery that must stay."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.integrations.storage import RecordingStorage
from switchboard.common.models import (
    Erasure,
    Lead,
    OutboundItem,
    Recording,
    WebhookDelivery,
)
from switchboard.domain.erasures import request_erasure
from switchboard.domain.outbound import runs
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import unique_phone
from tests.unit.worker.world import World, add, make_world, sid, snapshot

#: What erasing the person of :func:`person_world` counts.
ERASED = {
    "webhook_deliveries": 2,  # the world's two, naming the person's call
    "recordings": 3,  # the world's (no copy at Twilio any more) and two at Twilio
    "calls": 1,
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
    return Person(world, phone, recording_sids, audio_keys, item_id, other.id, kept.id)


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
