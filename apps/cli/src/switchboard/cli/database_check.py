"""Before a command works on the embedded database directly: is there one, and is it migrated?

Opening the SQLite file through the engine would create it (and ``var/``) wherever the
command runs, and then fail on a missing table. The commands that read or write the database
themselves (``keys``, ``create-business``, ``db``) ask here first and end with one line.
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


def require_database(*, at_head: bool = True) -> None:
    """Exit with one line unless the embedded database exists and was migrated (to the code's
    newest revision with ``at_head``; a command that migrates itself asks only that it exists).
    A PostgreSQL database is not checked here: its own errors name it."""
    path = sqlite_path()
    if path is None:
        return
    revision = _revision(path) if path.is_file() else None
    if revision is None:
        fail(f"no Switchboard database at {path}: {HINT}")
    if at_head:
        from switchboard.common.migrate import newest_script_revision

        if revision[:4] < newest_script_revision():
            fail(
                f"the Switchboard database at {path} is at revision {revision}, older than "
                "this code's: run `switchboard migrate` (or `make run`) first"
            )
