"""Loading one of a business's rows by id: another tenant's row is "not found".

A caller must not be able to tell that another business's id exists, so a foreign row and a
missing one are the same :class:`~switchboard.common.errors.NotFoundError`: the API answers 404
and the job runtime fails the job at once, without retrying (``jobs/errors.py``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.errors import NotFoundError

Row = TypeVar("Row")


def owned_row(
    session: Session,
    model: type[Row],
    business_id: int,
    row_id: int,
    *,
    what: str | None = None,
    lock: bool = False,
) -> Row:
    """The ``model`` row ``row_id`` of ``business_id``, else :class:`NotFoundError`.

    ``what`` names the object in the error (default: the model's name). The business filter is
    explicit (SQLite has no row-level security); ``lock`` takes a row lock (``SELECT … FOR
    UPDATE``) so concurrent deliveries of a job serialise on it.
    """
    what = what or model.__name__
    if not isinstance(row_id, int) or isinstance(row_id, bool):
        raise NotFoundError(f"{what} id must be an integer, got {row_id!r}")
    table: Any = model
    query = select(model).where(table.business_id == business_id, table.id == row_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"{what} {row_id} not found")
    return row
