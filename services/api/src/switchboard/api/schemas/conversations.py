"""WhatsApp conversations and their messages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import Page, Phone, RequestBody, Text, Timestamp
from switchboard.domain.whatsapp.delivery import DeliveryStatus
from switchboard.domain.whatsapp.message_text import MAX_BODY_CHARS


class ConversationCreate(RequestBody):
    contact_number: Phone


class ConversationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    lead_id: int | None
    contact_number: str = Field(examples=["+15557654321"])
    business_number: str = Field(examples=["+15551234567"])
    last_message_at: Timestamp | None
    created_at: Timestamp


class ConversationPage(Page[ConversationPublic]):
    pass


class MessageCreate(RequestBody):
    #: Twilio refuses a longer WhatsApp message (error 21617): refused here, with a 422.
    body: Text = Field(
        min_length=1, max_length=MAX_BODY_CHARS, examples=["Your appointment is confirmed."]
    )


class MessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    direction: Literal["in", "out"]
    message_sid: str | None
    body: str
    status: str = Field(
        examples=["queued"], description="received, replied, queued, sending, sent, failed"
    )
    attempts: int
    error: str | None
    delivery_status: DeliveryStatus | None = Field(
        examples=["delivered"],
        description="On a message sent: what Twilio last reported of its delivery, forward "
        "only (sent, then delivered, then read; undelivered or failed for good); null until "
        "a report arrives",
    )
    delivery_status_at: Timestamp | None = Field(
        description="When the report that set delivery_status arrived"
    )
    created_at: Timestamp


class MessagePage(Page[MessagePublic]):
    pass


class MessageQueued(BaseModel):
    message: MessagePublic
    job_id: str = Field(description="The send_whatsapp_message_job; see /api/v1/jobs/{job_id}")
