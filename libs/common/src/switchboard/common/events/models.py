"""Call events: what the voice gateway tells the rest of Switchboard, as JSON on the bus.

Each event is past tense and self-contained: consumers dedupe on ``event_id`` (delivery is
at least once) and route on ``type``, which is also the AMQP routing key.

An event that reports what Twilio names (a call's status, a recording) has an id derived from
those names (:attr:`EventBase.fact_fields`): Twilio sends a callback again when its first got
no 2xx in time, and may send one twice, and each reaches the gateway as a new request; the
same id makes it the same event, so every consumer's dedup (the follow-up jobs, the webhook
deliveries and their ``X-Switchboard-Delivery`` key) holds for it too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal, Self
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, model_validator

Direction = Literal["inbound", "outbound"]
#: Twilio's ``Direction`` of a call it placed: from its REST API (ours, an outbound run) or
#: from a ``<Dial>``. Either is an ``outbound`` call here.
TWILIO_OUTBOUND_DIRECTIONS = frozenset({"outbound-api", "outbound-dial"})
#: The namespace of the ids derived from Twilio's names (:func:`fact_event_id`); never changed,
#: or a callback sent again across the change would be a new event.
_FACT_IDS = UUID("6f1d8c8e-3b52-4f0e-9a51-6c1b2d0e7a43")


def _our_direction(value: object) -> object:
    return "outbound" if value in TWILIO_OUTBOUND_DIRECTIONS else value


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class TranscriptTurn(BaseModel):
    """One turn of the conversation: who spoke, what they said, and when the turn began."""

    model_config = ConfigDict(frozen=True)

    role: Literal["agent", "caller"]
    text: str
    at: datetime


def fact_event_id(business_id: int, event_type: str, *names: str) -> str:
    """The id of the business's event of ``event_type`` about what Twilio named ``names``."""
    return str(uuid5(_FACT_IDS, ":".join((str(business_id), event_type, *names))))


class EventBase(BaseModel):
    """Fields every call event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: The fields naming what the event reports, when Twilio names it: an event given no id
    #: gets :func:`fact_event_id` of them, so each delivery of one callback is one event.
    fact_fields: ClassVar[tuple[str, ...]] = ()

    event_id: str = Field(default_factory=lambda: str(uuid4()))
    type: str
    occurred_at: datetime = Field(default_factory=utc_now)
    business_id: int

    @model_validator(mode="after")
    def _id_of_the_fact(self) -> Self:
        if self.fact_fields and "event_id" not in self.model_fields_set:
            names = (str(getattr(self, name)) for name in self.fact_fields)
            # Frozen: set once, here, before anyone holds the event.
            self.__dict__["event_id"] = fact_event_id(self.business_id, self.type, *names)
        return self

    @property
    def routing_key(self) -> str:
        """The topic routing key: the event type (``call.ended``)."""
        return self.type

    def to_json_bytes(self) -> bytes:
        """The event as compact UTF-8 JSON, the body published on the bus."""
        return self.model_dump_json().encode()


class CallStarted(EventBase):
    """A call's media stream began: the caller and the agent are connected."""

    type: Literal["call.started"] = "call.started"
    call_sid: str
    stream_sid: str
    direction: Direction
    from_number: str
    to_number: str
    started_at: datetime
    run_id: int | None = None
    item_id: int | None = None


class CallStatusChanged(EventBase):
    """Twilio reported a call status (``ringing``, ``in-progress``, ``completed``, ``busy``…)."""

    fact_fields = ("call_sid", "call_status")

    type: Literal["call.status"] = "call.status"
    call_sid: str
    call_status: str
    #: Twilio's word (``outbound-api``) is read as ours (``outbound``): the call log's
    #: direction says whose number is the customer's (``calls.logs.caller_number``).
    direction: Annotated[Direction | None, BeforeValidator(_our_direction)] = None
    from_number: str | None = None
    to_number: str | None = None
    call_duration_s: int | None = None
    answered_by: str | None = None
    run_id: int | None = None
    item_id: int | None = None
    #: Other Twilio callback fields worth keeping (``CallDuration``, ``SipResponseCode``…).
    twilio_fields: dict[str, str] = Field(default_factory=dict)


class CallEnded(EventBase):
    """A call's media stream finished, with its timings, why it ended and what was said."""

    type: Literal["call.ended"] = "call.ended"
    call_sid: str
    stream_sid: str
    direction: Direction
    from_number: str
    to_number: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    end_reason: str
    transcript: list[TranscriptTurn] = Field(default_factory=list)
    run_id: int | None = None
    item_id: int | None = None


class RecordingReady(EventBase):
    """Twilio finished a call recording; the file can be fetched from ``recording_url``."""

    fact_fields = ("recording_sid",)

    type: Literal["recording.ready"] = "recording.ready"
    call_sid: str
    recording_sid: str
    recording_url: str
    duration_s: int | None = None


CallEvent = Annotated[
    CallStarted | CallStatusChanged | CallEnded | RecordingReady, Field(discriminator="type")
]
EVENT_TYPES: tuple[str, ...] = ("call.started", "call.status", "call.ended", "recording.ready")

_EVENT_ADAPTER: TypeAdapter[CallEvent] = TypeAdapter(CallEvent)


def parse_event(raw: bytes | str) -> CallStarted | CallStatusChanged | CallEnded | RecordingReady:
    """Turn a published JSON body back into its event model (raises ``ValidationError``)."""
    return _EVENT_ADAPTER.validate_json(raw)
