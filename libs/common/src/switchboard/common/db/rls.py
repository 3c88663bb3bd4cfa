"""Row-level security DDL for PostgreSQL, used by the migrations."""

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
