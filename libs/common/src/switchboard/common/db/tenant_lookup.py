"""Loading one of a business's rows by id for the API: another tenant's row is "not found"."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.errors import NotFoundError

Row = TypeVar("Row")


def find_owned(session: Session, model: type[Row], business_id: int, row_id: int, what: str) -> Row:
    """The ``model`` row ``row_id`` of ``business_id``, else :class:`NotFoundError` naming ``what``.

    The business filter is explicit because SQLite has no row-level security.
    """
    table: Any = model
    row = session.execute(
        select(model).where(table.business_id == business_id, table.id == row_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"{what} {row_id} not found")
    return row
