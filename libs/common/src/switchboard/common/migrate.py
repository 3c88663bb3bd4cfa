"""Apply Alembic migrations exactly once, however many processes start together.

``worker_startup_migrations``: the worker and the scheduler
call it at start and ``switchboard migrate`` calls it by hand. On PostgreSQL a session-level
advisory lock serialises concurrent callers; the ones that wait find the schema at head and
do nothing.

Migrations run as ``MIGRATION_DATABASE_URL`` (the tables' owner) when it is set, so the
services themselves may log in as a role that owns nothing (``DATABASE_URL``); unset, they
run as ``DATABASE_URL``, as in the embedded and development setups.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, ProgrammingError

from switchboard.common.db.engine import migration_engine
from switchboard.common.logging import get_logger

if TYPE_CHECKING:
    from alembic.config import Config

log = get_logger(__name__)

#: Arbitrary but fixed: the advisory lock id for schema migrations ("SWBD").
MIGRATION_LOCK_ID = 0x53574244


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations. ``attributes["applied"]``: the
    revisions an upgrade with it has run so far, in order (``env.py`` appends each)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("switchboard.common") / "migrations"))
    config.attributes["connection"] = connection
    config.attributes["applied"] = []
    return config


def head_revision() -> str | None:
    """The newest revision the code knows about, as Alembic reads the scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class MigrationRefusedError(RuntimeError):
    """The database cannot be migrated by this process; nothing is applied, and the message
    (one line) says what to do instead."""


class MigrationFailedError(MigrationRefusedError):
    """A migration script failed on the database (a table it creates already there, a file
    that may not be written): the upgrade is one transaction, rolled back, so the database is
    still at the revision it was. The message names the script and the database's error."""


class SchemaAheadError(MigrationRefusedError):
    """The database is at a revision this code has no script for: newer code migrated it (a
    rollback of the release, or an older image started beside a newer one). Only
    ``switchboard migrate`` refuses it; a start runs on it (see
    :func:`worker_startup_migrations`)."""


def script_revisions() -> list[str]:
    """Every revision, from the scripts' names alone (``NNNN_what.py``, one line of history),
    oldest first."""
    versions = files("switchboard.common") / "migrations" / "versions"
    names = [p.name for p in versions.iterdir() if p.name[:4].isdigit() and p.name.endswith(".py")]
    return sorted(name[:4] for name in names)


def newest_script_revision() -> str:
    """The newest revision, from the scripts' names: what a start compares with the
    database's without importing Alembic (a quarter of a second of a worker's start). A test
    checks it against :func:`head_revision`."""
    return script_revisions()[-1]


@cache
def _code_revisions() -> tuple[str, ...]:
    """:func:`script_revisions`, read once per process: readiness asks every few seconds."""
    return tuple(script_revisions())


def schema_behind(current: str | None) -> str | None:
    """Why a database at revision ``current`` cannot serve this code, or None if it can.

    Behind (a revision this code has a script for, older than its newest, or none at all):
    the migration has not run, and requests would fail on missing tables and columns. Ahead
    (a revision the code does not know) serves: the previous release runs on the next one's
    schema (docs/operations.md, "Roll back"). The one rule every service's ``/ready`` follows.
    """
    revisions = _code_revisions()
    head = revisions[-1]
    if current == head or (current is not None and current not in revisions):
        return None
    return (
        f"database schema at revision {current or 'none'}, this release needs {head}: "
        "run the migration (switchboard migrate)"
    )


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _refuse_without_privilege(exc: ProgrammingError, connection: Connection) -> None:
    """A migration the role may not run (the services' login role, MIGRATION_DATABASE_URL
    unset): :class:`MigrationRefusedError` naming the role and the fix."""
    from psycopg.errors import InsufficientPrivilege

    if isinstance(exc.orig, InsufficientPrivilege):
        reason = str(exc.orig).strip().splitlines()[0]
        raise MigrationRefusedError(
            f"the role {connection.engine.url.username} may not migrate the database "
            f"({reason}): migrations run as the tables' owner, MIGRATION_DATABASE_URL"
        ) from exc


def worker_startup_migrations(engine: Engine | None = None, *, refuse_newer: bool = False) -> bool:
    """Upgrade the database to head; return True if this call applied anything.

    A database newer code migrated is left as it is, with a warning: the previous release
    runs on the next one's schema (migrations add first and remove a release later), so a
    rolled-back worker or scheduler starts (docs/operations.md, "Roll back").
    ``refuse_newer`` (``switchboard migrate``, asked to bring it to this code's revision)
    raises :class:`SchemaAheadError` instead.
    """
    if engine is None:
        with migration_engine() as owner:
            return _upgrade(owner, refuse_newer)
    return _upgrade(engine, refuse_newer)


def _upgrade(engine: Engine, refuse_newer: bool) -> bool:
    head = newest_script_revision()
    with engine.connect() as connection:
        is_pg = connection.dialect.name == "postgresql"
        if is_pg:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            current = current_revision(connection)
            if current == head:
                log.info("migrations.up_to_date", revision=head)
                return False
            if current is not None and current not in script_revisions():
                if refuse_newer:
                    raise SchemaAheadError(
                        f"the database is at revision {current}, which this code does not "
                        f"know (its newest is {head}): run the release that migrated it, or a "
                        "newer one"
                    )
                log.warning("migrations.database_ahead", revision=current, code_revision=head)
                return False
            log.info("migrations.applying", target=head)
            config = alembic_config(connection)
            try:
                _apply(connection, config)
            except DBAPIError as exc:
                applied = config.attributes["applied"]
                raise _failure(exc, connection.engine.url, current, applied) from exc
            connection.commit()
            log.info("migrations.applied", revision=head)
            return True
        finally:
            if is_pg:
                # A failed migration left its transaction aborted: the unlock would fail in it,
                # its error hiding the migration's, and the lock stay held by the connection.
                connection.rollback()
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()


def _apply(connection: Connection, config: Config) -> None:
    """Run every script from the database's revision to the newest, in one transaction."""
    from alembic import command

    if connection.dialect.name == "sqlite":
        # pysqlite commits each DDL statement by itself until a DML statement opens a
        # transaction (the first revision row, after 0001): an upgrade stopped there or later
        # (a failing migration, a start killed while migrating) kept 0001's tables without
        # their revision, and every later start failed on "table businesses already exists".
        # One explicit transaction: all of it, or nothing; IMMEDIATE, so that it waits for
        # another writer (the busy timeout) where a deferred one reading first would fail at
        # its first write ("database is locked").
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        command.upgrade(config, "head")
    except ProgrammingError as exc:
        _refuse_without_privilege(exc, connection)
        raise


def _failure(
    exc: DBAPIError, url: URL, current: str | None, applied: list[str | None]
) -> MigrationFailedError:
    """:class:`MigrationFailedError` for ``exc``, raised while upgrading the database at ``url``
    from ``current`` after the scripts ``applied``: which script failed (the one after the last
    applied, else the one after ``current``: it, or the transaction opened for it) and the
    database's first line. The traceback goes to the debug log only."""
    log.debug("migrations.failed", exc_info=exc)
    scripts = _script_names()
    revisions = list(scripts)
    done = applied[-1] if applied else current
    pending = revisions[revisions.index(done) + 1 :] if done in revisions else revisions
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    reason = " ".join(lines[0].split()) if lines else type(exc).__name__
    if url.get_backend_name() == "sqlite":
        database = f"the SQLite database {url.database}"
    else:
        database = f"the database {url.render_as_string(hide_password=True)}"
    failed = f"migration {scripts[pending[0]]}" if pending else "migrating"
    return MigrationFailedError(
        f"{failed} failed on {database}: {reason} (nothing applied: the database stays at "
        f"revision {current or 'none'})"
    )


def _script_names() -> dict[str, str]:
    """Each revision's script, as its file is named without ``.py`` (``0001_initial_schema``),
    oldest first."""
    versions = files("switchboard.common") / "migrations" / "versions"
    names = sorted(
        p.name[:-3] for p in versions.iterdir() if p.name[:4].isdigit() and p.name.endswith(".py")
    )
    return {name[:4]: name for name in names}
