"""The rows erasures deleted that a job may name by id, remembered by table and id: a job
queued for one before its erasure finds it gone, and its work is no longer owed.

Each is remembered in the transaction that deletes it (:func:`delete_remembered`), so a job
that does not find its row finds the record by then, or the row was never erased: gone by a
bug, which must still fail the job loudly (``worker/actors/_erased.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Delete, select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_many_ignoring_conflicts
from switchboard.common.models import ErasedRow


def remember_erased_rows(
    session: Session, business_id: int, erasure_id: int, table_name: str, row_ids: Iterable[int]
) -> None:
    """Remember these rows of ``table_name`` as erased, in the caller's transaction (a repeat
    adds none)."""
    table: Any = ErasedRow.__table__
    now = utcnow()
    rows = [
        {
            "business_id": business_id,
            "table_name": table_name,
            "row_id": row_id,
            "erasure_id": erasure_id,
            "created_at": now,
            "updated_at": now,
        }
        for row_id in sorted(set(row_ids))
    ]
    insert_many_ignoring_conflicts(session, table, rows)  # one statement, not one per row


def delete_remembered(
    session: Session, business_id: int, erasure_id: int, statement: Delete
) -> int:
    """Run ``statement`` (a delete of one table's rows, by ``id``), remember the rows it
    deleted, and say how many."""
    table: Any = statement.table
    deleted = list(
        session.execute(
            statement.returning(table.c.id).execution_options(synchronize_session=False)
        ).scalars()
    )
    remember_erased_rows(session, business_id, erasure_id, table.name, deleted)
    return len(deleted)


def was_erased(business_id: int, table_name: str, row_id: object) -> bool:
    """Whether an erasure of the business deleted row ``row_id`` of ``table_name``."""
    if not isinstance(row_id, int) or isinstance(row_id, bool):
        return False
    with tenant_session(business_id) as session:
        found = session.execute(
            select(ErasedRow.id).where(
                ErasedRow.business_id == business_id,
                ErasedRow.table_name == table_name,
                ErasedRow.row_id == row_id,
            )
        ).first()
    return found is not None
