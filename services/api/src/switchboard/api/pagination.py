"""Opaque keyset cursors for list endpoints.

A cursor is the base64 of a JSON list holding the sort key of the last row shown. Whatever a
client sends back is checked before it reaches a query: anything that is not a cursor this
API could have issued (not base64, not JSON, the wrong shape, an id beyond BIGINT, a string
with NUL or a lone surrogate, a key written otherwise than ``encode_cursor`` writes it) is a
422 naming ``cursor``, never a database error.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Query
from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from switchboard.api.schemas.common import UrlInteger, storable_text
from switchboard.common.db.keyset import Page as RowPage
from switchboard.common.ids import MAX_ID

PageModel = TypeVar("PageModel", bound=BaseModel)

#: Longer than any cursor we issue (a job's is ~90 characters).
MAX_CURSOR_CHARS = 200
#: The longest string key a cursor may carry (a job id is a UUID).
MAX_KEY_CHARS = 36
CURSOR_DESCRIPTION = "next_cursor of the previous page"


def encode_cursor(*values: Any) -> str:
    """An opaque cursor for the given sort key."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def invalid_cursor(why: str) -> HTTPException:
    """The 422 for a cursor we did not issue, in FastAPI's shape for a bad parameter."""
    detail = [
        {
            "loc": ["query", "cursor"],
            "msg": f"invalid cursor ({why}): pass the next_cursor of the previous page",
            "type": "value_error",
        }
    ]
    return HTTPException(422, detail=detail)


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key inside ``cursor``; a 422 naming the parameter if it is not one of ours."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid_cursor("too long")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, RecursionError) as exc:  # binascii.Error is a ValueError
        raise invalid_cursor("not base64 JSON") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor("wrong shape")
    return values


def _as_issued(cursor: str, *key: Any) -> None:
    """A 422 unless ``cursor`` is exactly what :func:`encode_cursor` writes for ``key``."""
    if encode_cursor(*key) != cursor:
        raise invalid_cursor("not written as this API writes cursors")


def _id_key(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise invalid_cursor("not an id")
    return value


def decode_id_cursor(cursor: str | None) -> int | None:
    """The id to continue after, from a cursor of :func:`encode_cursor` (``id``)."""
    if not cursor:
        return None
    (after,) = decode_cursor(cursor, 1)
    key = _id_key(after)
    _as_issued(cursor, key)
    return key


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, string id) to continue after, from a cursor of ``encode_cursor(at, id)``."""
    if not cursor:
        return None
    at, key = decode_cursor(cursor, 2)
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS:
        raise invalid_cursor("not an id")
    try:
        storable_text(key)
    except PydanticCustomError as exc:
        raise invalid_cursor("not an id") from exc
    if not isinstance(at, str):
        raise invalid_cursor("not a time")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as exc:
        raise invalid_cursor("not a time") from exc
    _as_issued(cursor, moment, key)
    return moment, key


#: The ``cursor`` query parameter of every list.
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description=CURSOR_DESCRIPTION)]


#: The ``limit`` query parameter of every list paged by a cursor (but a run's items, in
#: bigger pages: ``routes/outbound_runs.py``).
Limit = Annotated[UrlInteger, Query(ge=1, le=200, description="Items per page")]
DEFAULT_LIMIT = 50

After = TypeVar("After")


@dataclass(frozen=True)
class PageParams(Generic[After]):
    """How many rows a list returns and the sort key to continue after (a row's id, or
    what its cursor holds)."""

    limit: int
    after: After | None


def page_params(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PageParams[int]:
    """Read ``limit`` and ``cursor`` (an id); a cursor that is not one of ours is a 422."""
    return PageParams(limit, decode_id_cursor(cursor))


def time_page_params(
    limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> PageParams[tuple[datetime, str]]:
    """:func:`page_params` for a list ordered by time then a string id (the jobs')."""
    return PageParams(limit, decode_time_cursor(cursor))


Paging = Annotated[PageParams[int], Depends(page_params)]
TimePaging = Annotated[PageParams[tuple[datetime, str]], Depends(time_page_params)]


def to_page(model: type[PageModel], page: RowPage[Any]) -> PageModel:
    """The response page for a page of rows (items validated from their attributes)."""
    next_cursor = encode_cursor(page.next_after) if page.next_after is not None else None
    return model.model_validate(
        {"items": page.items, "next_cursor": next_cursor}, from_attributes=True
    )
