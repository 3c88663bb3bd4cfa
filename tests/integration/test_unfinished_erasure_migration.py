"""Migration 0031: erasures left unfinished twice for one number (before the index) keep their
oldest; the rest are marked done, so the index that holds one per number can be built."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.engine import get_engine
from switchboard.common.migrate import alembic_config
from switchboard.common.models import Erasure
from switchboard.common.settings import Settings
from switchboard.domain.erasures.requests import phone_hash
from tests.support.factories import make_business, unique_phone

pytestmark = pytest.mark.integration


def _migrate(target: str, *, down: bool = False) -> None:
    with get_engine().connect() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), target)
        conn.commit()


def _erasure(business_id: int, phone: str, status: str = "pending") -> int:
    with tenant_session(business_id) as session:
        row = Erasure(
            business_id=business_id,
            phone=phone if status != "done" else None,
            phone_hash=phone_hash(business_id, phone),
            status=status,
            counts={},
        )
        session.add(row)
        session.flush()
        return int(row.id)


def test_duplicate_unfinished_erasures_keep_their_oldest_and_the_index_holds(
    new_database: Settings,
) -> None:
    business, other = make_business(), make_business()
    phone, alone = unique_phone(), unique_phone()
    _migrate("0030", down=True)
    done = _erasure(business.id, phone, "done")
    oldest = _erasure(business.id, phone, "running")
    twins = [_erasure(business.id, phone), _erasure(business.id, phone)]
    theirs = _erasure(other.id, phone)
    single = _erasure(business.id, alone)

    _migrate("head")

    with system_session() as session:
        rows = {
            row.id: (row.status, row.phone) for row in session.execute(select(Erasure)).scalars()
        }
    assert rows[oldest] == ("running", phone)
    assert all(rows[twin] == ("done", None) for twin in twins)
    assert rows[done] == ("done", None)
    assert (rows[theirs], rows[single]) == (("pending", phone), ("pending", alone))
    with pytest.raises(IntegrityError):
        _erasure(business.id, phone)
