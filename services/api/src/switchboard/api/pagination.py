"""Opaque keyset cursors for list endpoints."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query
from pydantic import BaseModel

from switchboard.common.db.keyset import MAX_ID
from switchboard.common.db.keyset import Page as RowPage

PageModel = TypeVar("PageModel", bound=BaseModel)


def encode_cursor(*values: Any) -> str:
    """An opaque cursor for the given sort key."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key inside ``cursor``; a 422 naming the parameter if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("wrong shape")
        return values
    except (ValueError, TypeError) as exc:
        raise HTTPException(
            422,
            detail=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
        ) from exc


def _invalid_cursor() -> HTTPException:
    return HTTPException(
        422, detail=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}]
    )


@dataclass(frozen=True)
class PageParams:
    """How many rows a list returns and the id to continue after."""

    limit: int
    after: int | None


def page_params(
    limit: int = Query(50, ge=1, le=200, description="Items per page"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
) -> PageParams:
    """Read ``limit`` and ``cursor``; a cursor that is not one of ours is a 422."""
    if not cursor:
        return PageParams(limit, None)
    (after,) = decode_cursor(cursor, 1)
    if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= MAX_ID:
        raise _invalid_cursor()
    return PageParams(limit, after)


Paging = Annotated[PageParams, Depends(page_params)]


def to_page(model: type[PageModel], page: RowPage[Any]) -> PageModel:
    """The response page for a page of rows (items validated from their attributes)."""
    next_cursor = encode_cursor(page.next_after) if page.next_after is not None else None
    return model.model_validate(
        {"items": page.items, "next_cursor": next_cursor}, from_attributes=True
    )
