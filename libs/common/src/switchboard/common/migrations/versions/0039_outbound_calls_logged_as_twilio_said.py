"""Outbound calls logged with Twilio's direction: made ``outbound``, their lead the callee.

A busy or unanswered outbound call never reaches the gateway's media stream: its status
callback alone logs it, and until the call-status event read Twilio's ``Direction`` as ours
(``events/models.py``) the call log kept Twilio's word, ``outbound-api`` or ``outbound-dial``.
A call log whose direction is not ``outbound`` names its caller as the customer
(``domain/calls/logs.py``), so the lead job found or made the lead of the call's ``From``: the
business's own number. Here, for every such call log:

- the direction becomes ``outbound``;
- if its lead is the business's own number (the call's ``From``, or the business's number
  now), it takes the callee's lead instead, found or made as the lead job makes it (status
  ``new``, source ``call``); no lead when the call has no callee;
- a lead so left behind is deleted if it was made from a call and nothing refers to it any
  more (no call log, conversation, outbound item, reminder… — every foreign key to
  ``leads`` the schema has when this runs).

In batches of call logs (keyset on the id), as the migrating role (the tables' owner, which
row-level security does not confine). Run again it finds nothing: no call log keeps Twilio's
word. The logic is frozen here, as of this revision, rather than imported from the domain.

Nothing to undo: Twilio's words are not worth restoring.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Twilio's ``Direction`` of a call it placed, as the call logs kept it.
TWILIO_OUTBOUND = ("outbound-api", "outbound-dial")
BATCH = 1000

_calls = sa.table(
    "call_logs",
    sa.column("id"),
    sa.column("business_id"),
    sa.column("direction"),
    sa.column("from_number"),
    sa.column("to_number"),
    sa.column("lead_id"),
)
_leads = sa.table(
    "leads",
    sa.column("id"),
    sa.column("business_id"),
    sa.column("phone"),
    sa.column("status"),
    sa.column("source"),
    sa.column("created_at"),
    sa.column("updated_at"),
)
_businesses = sa.table("businesses", sa.column("id"), sa.column("phone_number"))


def _own_number_leads(bind: sa.Connection, ids: list[int]) -> Sequence[Any]:
    """The call logs among ``ids`` whose lead is their business's own number."""
    own = sa.or_(
        _leads.c.phone == _calls.c.from_number, _leads.c.phone == _businesses.c.phone_number
    )
    return bind.execute(
        sa.select(_calls.c.id, _calls.c.business_id, _calls.c.to_number, _calls.c.lead_id)
        .join(_leads, _leads.c.id == _calls.c.lead_id)
        .join(_businesses, _businesses.c.id == _calls.c.business_id)
        .where(_calls.c.id.in_(ids), _leads.c.business_id == _calls.c.business_id, own)
    ).all()


def _callee_lead(bind: sa.Connection, business_id: int, phone: str) -> int:
    """The callee's lead, made as the lead job makes it when there is none (a race lost to a
    running service's insert is quiet: the unique key on business and phone decides)."""
    builder = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    now = sa.func.now() if bind.dialect.name == "postgresql" else sa.func.current_timestamp()
    bind.execute(
        builder(_leads)
        .values(
            business_id=business_id,
            phone=phone,
            status="new",
            source="call",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return int(
        bind.execute(
            sa.select(_leads.c.id).where(
                _leads.c.business_id == business_id, _leads.c.phone == phone
            )
        ).scalar_one()
    )


def _referrers(bind: sa.Connection) -> list[tuple[str, str]]:
    """Every (table, column) with a foreign key to ``leads``, as the schema has it now."""
    inspector = sa.inspect(bind)
    return [
        (table, column)
        for table in inspector.get_table_names()
        for key in inspector.get_foreign_keys(table)
        if key["referred_table"] == "leads"
        for column in key["constrained_columns"]
    ]


def _delete_if_unreferenced(
    bind: sa.Connection, lead_ids: set[int], referrers: list[tuple[str, str]]
) -> None:
    if not lead_ids:
        return
    referenced = [
        sa.exists().where(sa.table(table, sa.column(column)).c[column] == _leads.c.id)
        for table, column in referrers
    ]
    bind.execute(
        sa.delete(_leads).where(
            _leads.c.id.in_(sorted(lead_ids)),
            _leads.c.source == "call",
            *(~exists for exists in referenced),
        )
    )


def upgrade() -> None:
    bind = op.get_bind()
    referrers = _referrers(bind)
    after = 0
    while True:
        ids = list(
            bind.execute(
                sa.select(_calls.c.id)
                .where(_calls.c.direction.in_(TWILIO_OUTBOUND), _calls.c.id > after)
                .order_by(_calls.c.id)
                .limit(BATCH)
            ).scalars()
        )
        if not ids:
            return
        left: set[int] = set()
        for row in _own_number_leads(bind, ids):
            callee = _callee_lead(bind, row.business_id, row.to_number) if row.to_number else None
            bind.execute(sa.update(_calls).where(_calls.c.id == row.id).values(lead_id=callee))
            if callee != row.lead_id:
                left.add(row.lead_id)
        bind.execute(sa.update(_calls).where(_calls.c.id.in_(ids)).values(direction="outbound"))
        _delete_if_unreferenced(bind, left, referrers)
        after = ids[-1]


def downgrade() -> None:
    pass
