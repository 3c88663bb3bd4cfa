"""WhatsApp conversations: list, open, get, their messages, and sending a message."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from switchboard.api.deps import CurrentBusiness
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, ConversationId
from switchboard.api.schemas import (
    ConversationCreate,
    ConversationPage,
    ConversationPublic,
    ErrorResponse,
    MessageCreate,
    MessagePage,
    MessagePublic,
    MessageQueued,
    Storable,
    UrlInteger,
)
from switchboard.common.ids import MAX_ID
from switchboard.domain.whatsapp import conversations
from switchboard.domain.whatsapp.window import Template, variables_json

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"], responses=UNAUTHORIZED)


@router.get("", summary="List conversations", response_model=ConversationPage)
def list_conversations(
    business_id: CurrentBusiness,
    page: Paging,
    lead_id: Annotated[UrlInteger | None, Query(ge=1, le=MAX_ID)] = None,
    number: Annotated[str, Field(max_length=32), Storable] | None = Query(
        None, description="Part of the contact's number"
    ),
) -> ConversationPage:
    """This business's WhatsApp conversations, newest first."""
    rows = conversations.list_conversations(
        business_id, lead_id=lead_id, number=number, limit=page.limit, after=page.after
    )
    return to_page(ConversationPage, rows)


@router.post(
    "",
    summary="Open a conversation",
    dependencies=[Idempotent],
    response_model=ConversationPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ConversationPublic, "description": "It already existed"}},
)
def open_conversation(
    business_id: CurrentBusiness, body: ConversationCreate, response: Response
) -> ConversationPublic:
    """The conversation with a contact number, created (201) unless it exists (200)."""
    conversation, created = conversations.open_conversation(business_id, body.contact_number)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ConversationPublic.model_validate(conversation)


@router.get(
    "/{conversation_id}",
    summary="Get a conversation",
    response_model=ConversationPublic,
    responses=NOT_FOUND,
)
def get_conversation(
    business_id: CurrentBusiness, conversation_id: ConversationId
) -> ConversationPublic:
    """One conversation."""
    conversation = conversations.get_conversation(business_id, conversation_id)
    return ConversationPublic.model_validate(conversation)


@router.get(
    "/{conversation_id}/messages",
    summary="List a conversation's messages",
    response_model=MessagePage,
    responses=NOT_FOUND,
)
def list_messages(
    business_id: CurrentBusiness, conversation_id: ConversationId, page: Paging
) -> MessagePage:
    """A conversation's messages, newest first."""
    rows = conversations.list_messages(
        business_id, conversation_id, limit=page.limit, after=page.after
    )
    return to_page(MessagePage, rows)


@router.post(
    "/{conversation_id}/messages",
    summary="Send a WhatsApp message",
    dependencies=[Idempotent],
    response_model=MessageQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **NOT_FOUND,
        409: {
            "model": ErrorResponse,
            "description": "A free-form body outside WhatsApp's 24-hour window (the contact "
            "last wrote more than 24 hours ago, or never): the detail names when the window "
            "closed; only a template (content_sid) is delivered",
        },
    },
)
def send_message(
    business_id: CurrentBusiness, conversation_id: ConversationId, body: MessageCreate
) -> MessageQueued:
    """Queue a WhatsApp message, free-form or a template; ``send_whatsapp_message_job`` sends
    it. A free-form body is refused (409) outside the 24-hour window; a template is not."""
    template = (
        None
        if body.content_sid is None
        else Template(body.content_sid, variables_json(body.content_variables))
    )
    queued = conversations.send_message(business_id, conversation_id, body.body, template)
    return MessageQueued(message=MessagePublic.model_validate(queued.message), job_id=queued.job_id)
