"""Migration 0029: conversations left on a moved business's old number take its current one."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import select, update

from switchboard.common.db import system_session
from switchboard.common.db.engine import get_engine
from switchboard.common.migrate import alembic_config
from switchboard.common.models import Business, WhatsAppConversation
from switchboard.common.settings import Settings
from tests.support.factories import make_business, unique_phone
from tests.unit.api import rows

pytestmark = pytest.mark.integration


def _migrate(target: str, *, down: bool = False) -> None:
    with get_engine().connect() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), target)
        conn.commit()


def test_conversations_on_an_old_number_take_their_business_s_current_one(
    new_database: Settings,
) -> None:
    moved, kept = make_business(), make_business()
    stale = rows.conversation(moved.id, business_number=moved.phone_number)
    current = rows.conversation(kept.id, business_number=kept.phone_number)
    _migrate("0028", down=True)
    new = unique_phone()
    with system_session() as session:  # a move made before 0029: the conversation kept it
        session.execute(update(Business).where(Business.id == moved.id).values(phone_number=new))

    _migrate("head")

    with system_session() as session:
        numbers = dict(
            session.execute(
                select(WhatsAppConversation.id, WhatsAppConversation.business_number)
            ).all()
        )
    assert numbers == {stale.id: new, current.id: kept.phone_number}
