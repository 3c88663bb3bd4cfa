"""Call events: what the voice gateway tells the rest of Switchboard, as JSON on the bus.

Each event is past tense and self-contained: consumers dedupe on ``event_id`` (delivery is
at least once) and route on ``type``, which is also the AMQP routing key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import uuid4

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

Direction = Literal["inbound", "outbound"]
#: Twilio's ``Direction`` of a call it placed: from its REST API (ours, an outbound run) or
#: from a ``<Dial>``. Either is an ``outbound`` call here.
TWILIO_OUTBOUND_DIRECTIONS = frozenset({"outbound-api", "outbound-dial"})


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


class EventBase(BaseModel):
    """Fields every call event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(default_factory=lambda: str(uuid4()))
    type: str
    occurred_at: datetime = Field(default_factory=utc_now)
    business_id: int

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
