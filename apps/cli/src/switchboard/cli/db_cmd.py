"""``switchboard db grant-app-role ROLE``: let a role that owns nothing run the services."""

from __future__ import annotations

import typer

from switchboard.cli import output
from switchboard.cli.api_client import fail
from switchboard.cli.database_check import sqlite_path
from switchboard.cli.exit_codes import REFUSED

app = typer.Typer(help="The database: the role the services log in as.")


#: One paragraph per string: the terminal wraps the help, hard newlines would break its lines.
GRANT_HELP = (
    "Migrate, then make ROLE a member of the application and system roles.\n\n"
    "Runs as MIGRATION_DATABASE_URL (else DATABASE_URL), the tables' owner, on PostgreSQL. "
    "It refuses a superuser, a BYPASSRLS role and one that owns tables or the database, since "
    "row-level security would not bind them. Then point DATABASE_URL at ROLE."
)


@app.command("grant-app-role", help=GRANT_HELP)
def grant_app_role(
    role: str = typer.Argument(..., help="An existing login role that owns nothing."),
    as_json: bool = output.JsonOption,
) -> None:
    """Migrate, then make ROLE a member of the application and system roles (GRANT_HELP)."""
    from switchboard.common.db.engine import migration_engine
    from switchboard.common.db.rls import SYSTEM_ROLE
    from switchboard.common.db.roles import UnfitRoleError, grant_login_role
    from switchboard.common.migrate import worker_startup_migrations
    from switchboard.common.settings import get_settings

    if sqlite_path() is not None:
        fail(
            "roles exist on PostgreSQL only: set DATABASE_URL (and MIGRATION_DATABASE_URL)",
            REFUSED,
        )
    app_role = get_settings().db_app_role
    worker_startup_migrations()
    try:
        with migration_engine() as engine, engine.begin() as connection:
            grant_login_role(connection, role, app_role)
    except UnfitRoleError as exc:
        fail(str(exc), REFUSED)
    line = f"{role} is now a member of {app_role} and {SYSTEM_ROLE}"
    output.message(line, {"role": role, "member_of": [app_role, SYSTEM_ROLE]}, as_json)
