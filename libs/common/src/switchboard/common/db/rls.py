"""Row-level security DDL for PostgreSQL, used by the migrations.

Two roles without login carry every privilege the services need, so the role a service logs
in as owns nothing and gets its rights by membership (``switchboard db grant-app-role``):

- the application role (``DB_APP_ROLE``, ``switchboard_app``): what a tenant's unit of work
  switches to; its policy shows the rows of the transaction's business only;
- :data:`SYSTEM_ROLE`: the cross-tenant work of ``system_session`` (API-key lookup, the
  ledger, the outbox, the scheduler's scans); its policy shows every row, but only while the
  transaction has no business set. So ``RESET ROLE`` or ``SET ROLE`` inside a tenant's
  transaction shows nothing beyond that tenant: the login role inherits both policies, and the
  system one is off while a tenant is set.
"""

from __future__ import annotations

from collections.abc import Callable

from switchboard.common.db.tenancy import TENANT_SETTING

_TENANT = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint"


def create_app_role_sql(role: str) -> list[str]:
    """Create the unprivileged application role (once per cluster) and let us switch to it."""
    return [
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$
        """,
        f"GRANT {role} TO current_user",
        f"GRANT USAGE ON SCHEMA public TO {role}",
    ]


def secure_table_sql(table: str, role: str, *, key: str = "business_id") -> list[str]:
    """Grant the app role access to ``table`` and confine it to the transaction's tenant."""
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}",
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"CREATE POLICY tenant_isolation ON {table} TO {role} "
        f"USING ({key} = {_TENANT}) WITH CHECK ({key} = {_TENANT})",
    ]


#: The role whose policy opens every row to a transaction without a tenant (migration 0015).
SYSTEM_ROLE = "switchboard_system"
_NO_TENANT = f"{_TENANT} IS NULL"


def create_system_role_sql() -> list[str]:
    """Create :data:`SYSTEM_ROLE` (once per cluster) with the rights on every table and
    sequence, present and future (tables the migrating role creates later)."""
    role = SYSTEM_ROLE
    privileges = "SELECT, INSERT, UPDATE, DELETE"
    return [
        *create_app_role_sql(role),
        f"GRANT {privileges} ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {privileges} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        # The schema's version is the migrating role's to write.
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
    ]


def system_access_sql(table: str) -> list[str]:
    """Let :data:`SYSTEM_ROLE` see and write every row of ``table`` while no tenant is set."""
    return [
        f"DROP POLICY IF EXISTS system_access ON {table}",
        f"CREATE POLICY system_access ON {table} TO {SYSTEM_ROLE} "
        f"USING ({_NO_TENANT}) WITH CHECK ({_NO_TENANT})",
    ]


def secure_new_table_sql(table: str, role: str, *, key: str = "business_id") -> list[str]:
    """Both policies for a tenant table created from migration 0015 on, and the app role's
    use of its id sequence (0001 granted the sequences that existed then)."""
    return [
        *secure_table_sql(table, role, key=key),
        *system_access_sql(table),
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]


def secure_all(execute: Callable[[str], object], tables: list[str], role: str) -> None:
    """Apply the role, grants and policies for ``tables`` plus ``businesses`` (keyed on id)."""
    for statement in create_app_role_sql(role):
        execute(statement)
    execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    for statement in secure_table_sql("businesses", role, key="id"):
        execute(statement)
    for table in tables:
        for statement in secure_table_sql(table, role):
            execute(statement)
