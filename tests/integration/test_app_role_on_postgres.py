"""The services logged in as a role that owns nothing: migrations run as the owner
(MIGRATION_DATABASE_URL), the API works as the app role, and no role trick inside a tenant's
transaction shows another tenant's rows or changes the schema."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from switchboard.api.app import create_app
from switchboard.cli.main import app as cli
from switchboard.common.db import system_session, tenant_session
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from switchboard.domain.leads.store import upsert_lead
from tests.support import services
from tests.support.environment import configured
from tests.support.factories import make_business, unique_phone
from tests.unit.api.rows import auth
from tests.unit.api.test_dashboard_pages import log_in
from tests.unit.api.test_routing_follows_moves import owner_and_answerer, send_whatsapp

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def database(admin_database_url: str) -> Iterator[tuple[str, str, str]]:
    """A fresh database migrated by its owner, and a login role that owns nothing, granted
    its rights with ``switchboard db grant-app-role``: (owner URL, app URL, role)."""
    owner_url = services.create_database(admin_database_url)
    role, password = f"sb_app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOBYPASSRLS")
    app_url = make_url(owner_url).set(username=role, password=password).render_as_string(False)
    try:
        env = {"DATABASE_URL": app_url, "MIGRATION_DATABASE_URL": owner_url, "AMQP_URL": ""}
        with configured(**env):
            granted = runner.invoke(cli, ["db", "grant-app-role", role, "--json"])
        assert granted.exit_code == 0, granted.output
        assert json.loads(granted.stdout) == {
            "role": role,
            "member_of": ["switchboard_app", "switchboard_system"],
        }
        yield owner_url, app_url, role
    finally:
        services.drop_database(admin_database_url, owner_url)
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def as_app_role(database: tuple[str, str, str], tmp_path: Path) -> Iterator[Settings]:
    owner_url, app_url, _ = database
    with configured(
        database_url=app_url, migration_database_url=owner_url, amqp_url="", var_dir=str(tmp_path)
    ) as settings:
        yield settings


def _superuser(admin_database_url: str) -> str:
    return make_url(admin_database_url).username or "postgres"


def test_the_api_works_logged_in_as_a_role_that_owns_nothing(database, as_app_role) -> None:
    _, _, role = database
    with system_session() as session:
        who = session.execute(text("SELECT current_user, current_setting('is_superuser')")).one()
    assert tuple(who) == (role, "off")
    assert worker_startup_migrations() is False  # at head, checked as the owner
    with TestClient(create_app(as_app_role)) as client:
        admin = {"Authorization": f"Bearer {as_app_role.admin_api_key}"}
        created = client.post(
            "/api/v1/businesses",
            json={"name": "Acme", "phone_number": unique_phone()},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        business_id = created.json()["business"]["id"]
        key = auth(created.json()["api_key"])
        lead = client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=key)
        assert lead.status_code == 201, lead.text
        assert len(client.get("/api/v1/leads", headers=key).json()["items"]) == 1
        agent = {"agent": {"greeting": "Hello from the app role"}}
        assert client.patch("/api/v1/businesses/me", json=agent, headers=key).status_code == 200
        assert client.get("/api/v1/jobs", headers=key).json()["items"]  # ledger and outbox
        number = created.json()["business"]["phone_number"]
        sid = f"SM{unique_phone()[1:]}r"
        send_whatsapp(client, as_app_role, number, sid)  # the webhook's own connection pool
        assert owner_and_answerer(sid) == (business_id, business_id)
        issued = client.post(f"/api/v1/businesses/{business_id}/api-keys", headers=admin)
        assert issued.status_code == 201
        path = f"/api/v1/businesses/{business_id}/api-keys/{issued.json()['id']}"
        assert client.delete(path, headers=admin).status_code == 204
        assert (
            client.get("/api/v1/businesses/me", headers=auth(issued.json()["api_key"])).status_code
            == 401
        )
        tenant = make_business()
        log_in(client, tenant)
        assert client.get("/dashboard").status_code == 200


def test_role_tricks_in_a_tenant_transaction_show_no_other_tenant(
    as_app_role, admin_database_url
) -> None:
    a, b = make_business(), make_business()
    for business in (a, b):
        with tenant_session(business.id) as session:
            upsert_lead(session, business.id, unique_phone())
    with system_session() as session:  # the login role itself, no tenant: every business
        owners = set(session.execute(text("SELECT business_id FROM leads")).scalars())
    assert {a.id, b.id} <= owners
    with tenant_session(a.id) as session:
        session.execute(text("RESET ROLE"))
        assert set(session.execute(text("SELECT business_id FROM leads")).scalars()) == {a.id}
        assert set(session.execute(text("SELECT id FROM businesses")).scalars()) == {a.id}
        assert set(session.execute(text("SELECT business_id FROM api_keys")).scalars()) == {a.id}
        session.execute(text("SET ROLE switchboard_system"))
        assert session.execute(text("SELECT count(*) FROM leads")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM businesses")).scalar() == 0
    superuser = _superuser(admin_database_url)
    for trick in (f"SET ROLE {superuser}", f"SET SESSION AUTHORIZATION {superuser}"):
        with pytest.raises(DBAPIError, match="permission denied"), tenant_session(a.id) as session:
            session.execute(text(trick))


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE leads",
        "ALTER TABLE leads ADD COLUMN note text",
        "ALTER TABLE leads DISABLE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON leads",
        "TRUNCATE leads",
        "CREATE TABLE stolen (id int)",
        "GRANT switchboard_system TO switchboard_app",
    ],
)
def test_the_app_role_cannot_change_the_schema(as_app_role, statement: str) -> None:
    with (
        pytest.raises(DBAPIError, match="must be owner|permission denied|admin option"),
        system_session() as s,
    ):
        s.execute(text(statement))


def test_grant_app_role_refuses_a_role_that_would_escape_row_level_security(
    database, admin_database_url
) -> None:
    owner_url, app_url, _ = database
    with configured(database_url=app_url, migration_database_url=owner_url, amqp_url=""):
        refused = runner.invoke(cli, ["db", "grant-app-role", _superuser(admin_database_url)])
        missing = runner.invoke(cli, ["db", "grant-app-role", "sb_no_such_role"])
    assert refused.exit_code == 2 and "superuser or has BYPASSRLS" in refused.output
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_every_table_under_row_level_security_has_both_policies(database) -> None:
    owner_url, _, _ = database
    with psycopg.connect(owner_url) as conn:
        secured = {
            row[0]
            for row in conn.execute(
                "SELECT relname FROM pg_class WHERE relrowsecurity AND relkind = 'r'"
            )
        }
        policies = set(conn.execute("SELECT tablename, policyname FROM pg_policies").fetchall())
    assert "dashboard_sessions" in secured
    for table in secured:
        assert {(table, "tenant_isolation"), (table, "system_access")} <= policies, table
