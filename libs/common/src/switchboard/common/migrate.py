"""Apply Alembic migrations exactly once, however many processes start together.

The seed's ``init_thread`` became ``worker_startup_migrations``: the worker and the scheduler
call it at start and ``switchboard migrate`` calls it by hand. On PostgreSQL a session-level
advisory lock serialises concurrent callers; the ones that wait find the schema at head and
do nothing.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from switchboard.common.db.engine import get_engine
from switchboard.common.logging import get_logger

log = get_logger(__name__)

#: Arbitrary but fixed: the advisory lock id for schema migrations ("SWBD").
MIGRATION_LOCK_ID = 0x53574244


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(files("switchboard.common") / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision the code knows about."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    return MigrationContext.configure(connection).get_current_revision()


def worker_startup_migrations(engine: Engine | None = None) -> bool:
    """Upgrade the database to head; return True if this call applied anything."""
    engine = engine or get_engine()
    head = head_revision()
    with engine.connect() as connection:
        is_pg = connection.dialect.name == "postgresql"
        if is_pg:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            if current_revision(connection) == head:
                log.info("migrations.up_to_date", revision=head)
                return False
            log.info("migrations.applying", target=head)
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
            log.info("migrations.applied", revision=head)
            return True
        finally:
            if is_pg:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()
