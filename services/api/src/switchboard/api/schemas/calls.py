"""Calls: the log of each call, its transcript, end reason and recordings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import Page, Timestamp


class CallPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    call_sid: str = Field(examples=["CA0123456789abcdef0123456789abcdef"])
    lead_id: int | None
    direction: str = Field(examples=["inbound"])
    from_number: str | None = Field(examples=["+15557654321"])
    to_number: str | None = Field(examples=["+15551234567"])
    status: str = Field(examples=["completed"])
    started_at: Timestamp | None
    ended_at: Timestamp | None
    duration_s: float | None = Field(examples=[73.4])
    end_reason: str | None = Field(examples=["caller_hung_up"])
    summary: str | None
    outbound_run_id: int | None
    created_at: Timestamp


class RecordingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recording_sid: str = Field(examples=["RE0123456789abcdef0123456789abcdef"])
    status: str = Field(examples=["stored"])
    duration_s: float | None
    transcript: str | None
    created_at: Timestamp


class TranscriptTurn(BaseModel):
    """One turn of a call's transcript, as the agent recorded it; ``at`` when it was said."""

    model_config = ConfigDict(extra="allow")  # what the agent recorded besides, kept

    role: str = Field(examples=["agent"])
    text: str = Field(examples=["Hello!"])
    #: Absent from turns recorded without a time (rather than ``null``).
    at: Timestamp | None = Field(None, exclude_if=lambda at: at is None)


class CallDetail(CallPublic):
    """A call with its transcript (turns as the agent recorded them) and recordings."""

    transcript: list[TranscriptTurn] | None = Field(
        examples=[[{"role": "agent", "text": "Hello!"}, {"role": "caller", "text": "Hi."}]]
    )
    recordings: list[RecordingPublic]


class CallPage(Page[CallPublic]):
    pass
