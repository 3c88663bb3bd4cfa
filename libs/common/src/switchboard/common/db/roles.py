"""The role the services log in as: one that owns nothing and gets its rights by membership.

``DATABASE_URL`` may name such a role once migrations run as the tables' owner
(``MIGRATION_DATABASE_URL``). :func:`grant_login_role` makes it a member of the application
role and the system role (``db/rls.py``), after checking that row-level security binds it:
not a superuser, no ``BYPASSRLS``, owner of no table and not of the database (whose owner
owns the ``public`` schema and may drop what is in it).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from switchboard.common.db.rls import SYSTEM_ROLE

_ROLE = text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role")
_OWNS = text(
    "SELECT (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
    "        WHERE r.rolname = :role AND c.relnamespace = 'public'::regnamespace) AS tables, "
    "       (SELECT r.rolname = :role FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
    "        WHERE d.datname = current_database()) AS database"
)


class UnfitRoleError(ValueError):
    """The role cannot be the services' login role (row-level security would not bind it)."""


def grant_login_role(connection: Connection, role: str, app_role: str) -> None:
    """Make ``role`` a member of ``app_role`` and of the system role, once it is fit for it.

    Runs on a connection of the migrating role (the owner), after the migrations.
    """
    if connection.dialect.name != "postgresql":
        raise UnfitRoleError("roles exist on PostgreSQL only; the embedded SQLite has none")
    if connection.execute(_ROLE, {"role": SYSTEM_ROLE}).first() is None:
        raise UnfitRoleError(f"role {SYSTEM_ROLE} is missing: run `switchboard migrate` first")
    found = connection.execute(_ROLE, {"role": role}).first()
    if found is None:
        raise UnfitRoleError(
            f"role {role!r} does not exist: CREATE ROLE {role} LOGIN PASSWORD '…' first"
        )
    if found.rolsuper or found.rolbypassrls:
        raise UnfitRoleError(
            f"role {role!r} is a superuser or has BYPASSRLS: row-level security would not "
            f"bind it (ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS)"
        )
    owns = connection.execute(_OWNS, {"role": role}).one()
    if owns.tables or owns.database:
        raise UnfitRoleError(
            f"role {role!r} owns {'the database' if owns.database else 'tables'}: an owner "
            "escapes row-level security and may drop tables; use a role that owns nothing"
        )
    quoted = connection.dialect.identifier_preparer.quote(role)
    connection.execute(text(f"GRANT {app_role}, {SYSTEM_ROLE} TO {quoted}"))
