"""Path parameters and response declarations the resource routes share.

Ids are written in digits (``schemas.UrlInteger``) and bounded to what a BIGINT can hold, and
text parameters are ``schemas.Text`` (no NUL), so a path or query the database could not take,
or that only looks like a number, is a 422 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from switchboard.api.schemas import ErrorResponse, Text, UrlInteger
from switchboard.common.ids import MAX_ID


def object_id(description: str) -> Any:
    """A path id: a positive integer a database id can be (larger ones are a 422, not a 500)."""
    return Path(ge=1, le=MAX_ID, description=description, examples=[42])


LeadId = Annotated[UrlInteger, object_id("The lead's id")]
CallId = Annotated[UrlInteger, object_id("The call's id")]
RecordingId = Annotated[UrlInteger, object_id("The recording's id")]
ConversationId = Annotated[UrlInteger, object_id("The conversation's id")]
EndpointId = Annotated[UrlInteger, object_id("The webhook endpoint's id")]
ReminderId = Annotated[UrlInteger, object_id("The reminder's id")]
SubscriptionId = Annotated[UrlInteger, object_id("The push subscription's id")]
ErasureId = Annotated[UrlInteger, object_id("The erasure's id")]
BusinessId = Annotated[UrlInteger, object_id("The business's id")]
#: A job's id (a UUID unless its caller chose one; at most 36 characters).
JobId = Annotated[Text, Path(min_length=1, max_length=36, description="The job's id")]

#: Every operation: a body that cannot be read at all (not UTF-8 JSON, broken multipart).
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request body could not be read"}
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, invalid or revoked API key"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such object for this business"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Conflicts with an existing object"}
}
