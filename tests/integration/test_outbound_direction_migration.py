"""Migration 0039: outbound calls logged with Twilio's direction (``outbound-api``,
``outbound-dial``) become ``outbound``, and take the callee's lead instead of the business's own
number, as the call-status event's fix now logs them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import insert, select

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.migrate import alembic_config
from switchboard.common.models import CallLog, Lead, Reminder
from switchboard.common.settings import Settings
from tests.support.factories import make_business, unique_phone
from tests.unit.api import rows

pytestmark = pytest.mark.integration


def _migrate(target: str, *, down: bool = False) -> None:
    with get_engine().connect() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), target)
        conn.commit()


def _old_outbound_call(business_id: int, own: str, callee: str | None, lead_id: int) -> CallLog:
    """A busy outbound call as the status callback alone logged it before the fix."""
    return rows.call(
        business_id,
        direction="outbound-api",
        from_number=own,
        to_number=callee,
        status="busy",
        end_reason=None,
        transcript=[],
        lead_id=lead_id,
    )


def _state(business_id: int) -> tuple[dict[int, tuple[str, int | None]], dict[int, str]]:
    with tenant_session(business_id) as session:
        calls = session.execute(
            select(CallLog.id, CallLog.direction, CallLog.lead_id).where(
                CallLog.business_id == business_id
            )
        ).all()
        leads = session.execute(
            select(Lead.id, Lead.phone).where(Lead.business_id == business_id)
        ).all()
    return {c.id: (c.direction, c.lead_id) for c in calls}, dict(leads)


@pytest.fixture(params=["new_database", "managed_owner_database", "embedded"])
def database(request: pytest.FixtureRequest) -> Settings:
    """PostgreSQL, migrated by a superuser and by an owner that is none (a managed
    PostgreSQL's: the migration reads every business's rows as the tables' owner, which
    row-level security does not confine), and SQLite (embedded mode runs the same
    migrations)."""
    settings: Settings = request.getfixturevalue(request.param)
    return settings


def test_outbound_calls_kept_as_twilio_said_take_the_callee_s_lead(database: Settings) -> None:
    repaired, kept, other = make_business(), make_business(), make_business()
    _migrate("0038", down=True)

    # A business whose own-number lead was made by outbound calls only: two callees, one a
    # lead already (named), one not; a call with no callee; a dialled call.
    own = rows.lead(repaired.id, source="call")
    with tenant_session(repaired.id) as session:
        session.get(Lead, own.id).phone = repaired.phone_number  # type: ignore[union-attr]
    known = rows.lead(repaired.id, name="Known Callee", source="manual")
    new_callee = unique_phone()
    busy = _old_outbound_call(repaired.id, repaired.phone_number, new_callee, own.id)
    again = _old_outbound_call(repaired.id, repaired.phone_number, new_callee, own.id)
    to_known = _old_outbound_call(repaired.id, repaired.phone_number, known.phone, own.id)
    no_callee = _old_outbound_call(repaired.id, repaired.phone_number, None, own.id)
    dialled = rows.call(
        repaired.id,
        direction="outbound-dial",
        from_number=repaired.phone_number,
        to_number=known.phone,
        lead_id=own.id,
    )
    fine = rows.call(
        repaired.id,
        direction="outbound",
        from_number=repaired.phone_number,
        to_number=known.phone,
        lead_id=known.id,
    )

    # A business whose own number is also a lead for another reason (a reminder): it stays.
    kept_own = rows.lead(kept.id, source="call")
    with tenant_session(kept.id) as session:
        session.get(Lead, kept_own.id).phone = kept.phone_number  # type: ignore[union-attr]
        session.add(
            Reminder(
                business_id=kept.id,
                lead_id=kept_own.id,
                title="call back",
                due_at=utcnow() + timedelta(days=1),
            )
        )
    kept_callee = unique_phone()
    kept_call = _old_outbound_call(kept.id, kept.phone_number, kept_callee, kept_own.id)

    # An inbound call of another business: untouched.
    inbound = rows.call(other.id)
    other_before = _state(other.id)

    _migrate("head")

    calls, leads = _state(repaired.id)
    callee_lead = next(i for i, phone in leads.items() if phone == new_callee)
    assert calls == {
        busy.id: ("outbound", callee_lead),
        again.id: ("outbound", callee_lead),
        to_known.id: ("outbound", known.id),
        no_callee.id: ("outbound", None),
        dialled.id: ("outbound", known.id),
        fine.id: ("outbound", known.id),
    }
    assert leads == {known.id: known.phone, callee_lead: new_callee}  # own number deleted
    with tenant_session(repaired.id) as session:
        made = session.get(Lead, callee_lead)
        assert made is not None and (made.status, made.source) == ("new", "call")
        assert session.get(Lead, known.id).name == "Known Callee"  # type: ignore[union-attr]

    calls, leads = _state(kept.id)
    kept_callee_lead = next(i for i, phone in leads.items() if phone == kept_callee)
    assert calls == {kept_call.id: ("outbound", kept_callee_lead)}
    assert leads == {kept_own.id: kept.phone_number, kept_callee_lead: kept_callee}

    assert _state(other.id) == other_before
    assert inbound.id in other_before[0]

    # Run again (down to 0038 and up): nothing left to change.
    after = [_state(b.id) for b in (repaired, kept, other)]
    _migrate("0038", down=True)
    _migrate("head")
    assert [_state(b.id) for b in (repaired, kept, other)] == after


def test_an_own_number_lead_is_deleted_once_no_batch_refers_to_it(new_database: Settings) -> None:
    """More call logs than a batch, all on one own-number lead: the first batch leaves it
    (the second still refers to it), the second deletes it."""
    business = make_business()
    _migrate("0038", down=True)
    own = rows.lead(business.id, source="call")
    callee = unique_phone()
    with tenant_session(business.id) as session:
        session.get(Lead, own.id).phone = business.phone_number  # type: ignore[union-attr]
        session.execute(
            insert(CallLog),
            [
                {
                    "business_id": business.id,
                    "call_sid": f"CA{n:032d}",
                    "direction": "outbound-api",
                    "from_number": business.phone_number,
                    "to_number": callee,
                    "status": "no-answer",
                    "lead_id": own.id,
                }
                for n in range(1_234)
            ],
        )

    _migrate("head")

    calls, leads = _state(business.id)
    [(callee_lead, phone)] = leads.items()
    assert phone == callee
    assert set(calls.values()) == {("outbound", callee_lead)} and len(calls) == 1_234
