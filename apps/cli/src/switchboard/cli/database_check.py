"""Before a command works on the database directly: is there one, and is it migrated?

Opening the SQLite file through the engine would create it (and ``var/``) wherever the
command runs, and then fail on a missing table; a PostgreSQL database never migrated (or
migrated by older code) fails on a missing table or column, a traceback. The commands that
read or write the database themselves (``keys``, ``create-business``, ``db``) ask here first
and end with one line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from switchboard.cli.api_client import fail
from switchboard.common.settings import get_settings

HINT = "run it from the directory of `make run`, or set VAR_DIR / DATABASE_URL"


def sqlite_path() -> Path | None:
    """The SQLite file the settings point at (embedded mode), or None for another database."""
    url = make_url(get_settings().effective_database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _revision(path: Path) -> str | None:
    """The file's migration revision, None when it has none; read-only, so nothing is created."""
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as connection:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None  # no alembic_version table, or not an SQLite file at all
    return str(row[0]) if row else None


def _server_revision() -> tuple[str, str | None]:
    """The PostgreSQL database's name (server and database, no credentials) and revision."""
    from switchboard.common.db.engine import get_engine
    from switchboard.common.migrate import current_revision

    engine = get_engine()
    url = engine.url
    with engine.connect() as connection:
        return f"{url.host}:{url.port or 5432}/{url.database}", current_revision(connection)


def require_database(*, at_head: bool = True) -> None:
    """Exit with one line unless the database exists and was migrated to the code's newest
    revision (``at_head``); a command that migrates itself asks only that the embedded file
    exists (a PostgreSQL database it migrates is not checked)."""
    path = sqlite_path()
    if path is None:
        if at_head:
            where, revision = _server_revision()
            if revision is None:
                fail(f"no Switchboard tables in the database {where}: run `switchboard migrate`")
            _require_head(f"the database {where}", revision)
        return
    revision = _revision(path) if path.is_file() else None
    if revision is None:
        fail(f"no Switchboard database at {path}: {HINT}")
    if at_head:
        _require_head(f"the Switchboard database at {path}", revision)


def _require_head(database: str, revision: str) -> None:
    from switchboard.common.migrate import newest_script_revision

    if revision[:4] < newest_script_revision():
        fail(
            f"{database} is at revision {revision}, older than this code's: run "
            "`switchboard migrate` (or `make run`) first"
        )
