"""The console's WhatsApp conversations: the threads (by number) and one thread's messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import Field

from switchboard.api.dashboard.console import layout, logged_in, next_cursor, not_found
from switchboard.api.dashboard.rendering import page
from switchboard.api.deps import SettingsDep
from switchboard.api.pagination import decode_id_cursor
from switchboard.api.schemas import Storable, UrlInteger
from switchboard.common.errors import NotFoundError
from switchboard.common.ids import MAX_ID
from switchboard.domain.whatsapp import conversations

router = APIRouter(prefix="/dashboard/conversations", include_in_schema=False)
ConversationId = Annotated[UrlInteger, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[str, Field(max_length=100), Storable] | None
ACTIVE = "/dashboard/conversations"
PAGE_SIZE = 25
MESSAGES_PAGE_SIZE = 50


@router.get("", response_class=HTMLResponse)
def conversations_page(
    request: Request,
    settings: SettingsDep,
    q: Annotated[str, Field(max_length=32), Storable] | None = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    """WhatsApp threads, newest first, narrowed by the contact's number."""
    session, business_id = logged_in(request, settings)
    found = conversations.list_conversations(
        business_id, number=q or None, limit=PAGE_SIZE, after=decode_id_cursor(cursor)
    )
    context = layout(session, ACTIVE, conversations=found.items, q=q)
    return page(request, "conversations.html", next_cursor=next_cursor(found.next_after), **context)


@router.get("/{conversation_id}", response_class=HTMLResponse)
def conversation_page(
    request: Request, settings: SettingsDep, conversation_id: ConversationId, cursor: Cursor = None
) -> HTMLResponse:
    """One thread: its latest messages in the order they were exchanged, older ones paged."""
    session, business_id = logged_in(request, settings)
    try:
        thread = conversations.get_conversation(business_id, conversation_id)
        found = conversations.list_messages(
            business_id, conversation_id, limit=MESSAGES_PAGE_SIZE, after=decode_id_cursor(cursor)
        )
    except NotFoundError as exc:
        raise not_found(exc) from exc
    # The page is newest first; a chat reads oldest first.
    context = layout(session, ACTIVE, conversation=thread, messages=found.items[::-1])
    return page(request, "conversation.html", next_cursor=next_cursor(found.next_after), **context)
