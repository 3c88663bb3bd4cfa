"""WhatsApp conversations and their messages."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from switchboard.api.schemas.common import Page, Phone, RequestBody, Storable, Timestamp
from switchboard.domain.whatsapp.delivery import DeliveryStatus
from switchboard.domain.whatsapp.message_text import MAX_BODY_CHARS
from switchboard.domain.whatsapp.window import (
    CONTENT_SID,
    MAX_VARIABLE_CHARS,
    MAX_VARIABLES,
    variables_of,
)


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


def _content_sid(value: str) -> str:
    if not CONTENT_SID.fullmatch(value):
        raise PydanticCustomError(
            "content_sid", "is not a Twilio Content API template sid (HX and 32 hex digits)"
        )
    return value


def _variable_name(value: str) -> str:
    if not _VARIABLE_NUMBER.fullmatch(value):
        raise PydanticCustomError(
            "variable_name", "is not a template variable's number (1, 2, … 99)"
        )
    return value


_VARIABLE_NUMBER = re.compile(r"[1-9][0-9]?")
#: A template variable's name: Twilio's are ``"1"``, ``"2"``…
_VARIABLE_NAME = Annotated[
    str,
    AfterValidator(_variable_name),
    WithJsonSchema({"type": "string", "pattern": "^[1-9][0-9]?$"}),
]
#: A Content API template's sid (the schema publishes the pattern; the 422 says it in words).
_CONTENT_SID = Annotated[
    str,
    AfterValidator(_content_sid),
    WithJsonSchema(
        {"type": "string", "pattern": CONTENT_SID.pattern, "minLength": 34, "maxLength": 34}
    ),
]
#: A template variable's value (WhatsApp takes up to 1,024 characters).
_VARIABLE_VALUE = Annotated[str, Field(min_length=1, max_length=MAX_VARIABLE_CHARS), Storable]


class MessageCreate(RequestBody):
    """A free-form ``body`` (only within WhatsApp's 24-hour window, else a 409), or an
    approved template, ``content_sid`` with its ``content_variables`` (at any time)."""

    #: Twilio refuses a longer WhatsApp message (error 21617): refused here, with a 422.
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS), Storable] | None = Field(
        None,
        examples=["Your appointment is confirmed."],
        description="A free-form message; not with content_sid. Delivered only within "
        "24 hours of the contact's last message: outside that window the send is refused "
        "(409), and only a template is delivered",
    )
    content_sid: _CONTENT_SID | None = Field(
        None,
        validate_default=True,  # absent, it is still checked against the body
        examples=["HX" + "0123456789abcdef" * 2],
        description="An approved Twilio Content API template's sid (HX and 32 hex digits), "
        "sent instead of a body, at any time; not with body",
    )
    content_variables: dict[_VARIABLE_NAME, _VARIABLE_VALUE] | None = Field(
        None,
        max_length=MAX_VARIABLES,
        examples=[{"1": "12/1", "2": "3pm"}],
        description="The template's variables by number; only with content_sid. Stored "
        "with the message like a body",
    )

    @field_validator("content_sid", mode="after")
    @classmethod
    def _body_or_template(cls, content_sid: str | None, info: ValidationInfo) -> str | None:
        if "body" not in info.data:  # the body's own error says what is wrong
            return content_sid
        if content_sid is None and info.data["body"] is None:
            raise PydanticCustomError(
                "body_or_template",
                "is required without a body: give body (a free-form message) or content_sid "
                "(a template)",
            )
        if content_sid is not None and info.data["body"] is not None:
            raise PydanticCustomError(
                "body_and_template",
                "cannot go with a body: a template message is the template's text",
            )
        return content_sid

    @field_validator("content_variables", mode="after")
    @classmethod
    def _only_with_template(
        cls, variables: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        if variables is not None and info.data.get("content_sid") is None:
            raise PydanticCustomError(
                "variables_without_template", "are a template's: give content_sid with them"
            )
        return variables


class MessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    direction: Literal["in", "out"]
    message_sid: str | None
    body: str = Field(description="The text; a template message's is [template HX…]")
    content_sid: str | None = Field(
        examples=["HX" + "0123456789abcdef" * 2],
        description="A template message's template sid; null on a free-form message",
    )
    content_variables: dict[str, str] | None = Field(
        examples=[{"1": "12/1", "2": "3pm"}],
        description="A template message's variables by number, as sent; null on a free-form "
        "message or a template without variables",
    )
    status: str = Field(
        examples=["queued"],
        description="An inbound message (direction in): received, then replied, or failed "
        "unanswered when its reply job ran after WhatsApp's 24-hour window closed (error says "
        "so; the agent was not asked). An outbound one (out): queued, sending, then sent or "
        "failed",
    )
    attempts: int
    error: str | None = Field(
        description="Why the message failed; for one Twilio reported not delivered, Twilio's "
        "status and error code with what the code means"
    )
    error_code: str | None = Field(
        examples=["63016"],
        description="On an outbound message Twilio reported undelivered or failed: Twilio's "
        "error code (63016: outside WhatsApp's 24-hour window); such a message is failed for "
        "good, never sent again by a retry. Null otherwise",
    )
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

    @field_validator("content_variables", mode="before")
    @classmethod
    def _stored_variables(cls, stored: object) -> object:
        """The row keeps the JSON object sent to Twilio."""
        return variables_of(stored) if isinstance(stored, str) else stored


class MessagePage(Page[MessagePublic]):
    pass


class MessageQueued(BaseModel):
    message: MessagePublic
    job_id: str = Field(description="The send_whatsapp_message_job; see /api/v1/jobs/{job_id}")
