"""Row-level security: the database itself keeps tenants apart, even for a superuser URL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import tenant_tables
from switchboard.common.jobs import enqueue
from switchboard.domain.leads.store import upsert_lead
from tests.support import actors
from tests.support.factories import make_business


def test_every_tenant_table_has_row_level_security_on(pg) -> None:
    with system_session() as session:
        secured = set(
            session.execute(
                text("SELECT relname FROM pg_class WHERE relrowsecurity AND relkind = 'r'")
            ).scalars()
        )
    assert set(tenant_tables()) | {"businesses"} <= secured


def test_a_raw_select_for_business_a_returns_none_of_business_b_rows(pg) -> None:
    a, b = make_business(), make_business()
    for business in (a, b):
        with tenant_session(business.id) as session:
            upsert_lead(session, business.id, "+15557770000")
        enqueue(actors.NOOP, business_id=business.id)
    with tenant_session(a.id) as session:
        assert session.execute(text("SELECT current_setting('is_superuser')")).scalar() == "off"
        for table in ("leads", "jobs", "outbox", "api_keys", "agent_settings"):
            owners = set(session.execute(text(f"SELECT business_id FROM {table}")).scalars())
            assert owners <= {a.id}, table
        assert set(session.execute(text("SELECT id FROM businesses")).scalars()) == {a.id}


def test_the_database_url_user_is_a_superuser_yet_the_policy_holds(pg) -> None:
    with system_session() as session:
        assert session.execute(text("SELECT current_setting('is_superuser')")).scalar() == "on"


def test_writing_a_row_for_another_business_is_refused(pg) -> None:
    a, b = make_business(), make_business()
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        tenant_session(a.id) as session,
    ):
        session.execute(
            text(
                "INSERT INTO leads (business_id, phone, status, source, created_at, updated_at) "
                "VALUES (:b, '+1555', 'new', 'x', now(), now())"
            ),
            {"b": b.id},
        )


def test_a_session_without_a_tenant_sees_nothing_as_the_app_role(pg) -> None:
    make_business()
    with system_session() as session:
        session.execute(text("SET LOCAL ROLE switchboard_app"))
        assert session.execute(text("SELECT count(*) FROM leads")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM businesses")).scalar() == 0
