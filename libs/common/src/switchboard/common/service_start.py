"""What every service's own entry point (``python -m switchboard.<service>``) does first.

A service's image installs only that workspace member and its dependencies, not the
``switchboard`` command (which imports every service), so each service package has a
``__main__`` of its own; this is the part they share with the CLI's commands: refuse an unfit
environment on plain lines, then configure logging.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from switchboard.common.logging import configure_logging
from switchboard.common.settings import (
    EnvFileError,
    Settings,
    describe_invalid_settings,
    get_settings,
)

#: The exit status of a start refused for its environment (the CLI's too).
UNFIT_ENVIRONMENT = 2
#: The exit status of a start refused for its database: unreachable, or one it may not migrate.
UNUSABLE_DATABASE = 1


def checked_settings(program: str) -> Settings:
    """The settings, logging configured from them; exit 2 listing every problem if unfit (one
    line for a ``.env`` that is not UTF-8)."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        sys.stderr.write(f"{program}: refusing to start, the environment is not fit:\n")
        sys.stderr.write("".join(f"  {line}\n" for line in describe_invalid_settings(exc)))
        raise SystemExit(UNFIT_ENVIRONMENT) from None
    except EnvFileError as exc:
        sys.stderr.write(f"{program}: refusing to start: {exc}\n")
        raise SystemExit(UNFIT_ENVIRONMENT) from None
    configure_logging(settings.log_level, settings.log_json)
    return settings


def server_arguments(program: str, description: str, port: int) -> argparse.ArgumentParser:
    """A parser with the ``--host`` and ``--port`` every HTTP service takes."""
    parser = argparse.ArgumentParser(prog=program, description=description)
    # A container's server listens on every interface; its port is published or not.
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")  # noqa: S104
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    return parser


def database_refusal(exc: BaseException) -> str | None:
    """One line for an error that is the database's state, not a bug; None for any other.

    PostgreSQL refusing or dropping a connection: the driver's first line (it names the server
    and the database, never a password). A database this process may not migrate (migrated
    by newer code, or a role that owns nothing): what to do instead. DATABASE_URL's role
    refused a table (a login role not granted yet): the command that grants it.
    """
    import psycopg
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from switchboard.common.migrate import MigrationRefusedError

    if isinstance(exc, MigrationRefusedError):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if not isinstance(exc, psycopg.OperationalError | psycopg.errors.InsufficientPrivilege):
        return None
    lines = str(exc).strip().splitlines()
    first = " ".join(lines[0].split()) if lines else type(exc).__name__
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        if not first.startswith("permission denied for "):
            return None  # not a table or sequence refused (a GRANT the owner may not make)
        role = make_url(get_settings().effective_database_url).username
        return (
            f"the role {role} may not use the database ({first}): grant it its rights with "
            f"`switchboard db grant-app-role {role}`, as the tables' owner"
        )
    return f"the database is unavailable: {first}"


@contextmanager
def refusing_unusable_database(program: str) -> Iterator[None]:
    """Around a service's start-up migration: a :func:`database_refusal` ends the process
    with that one line on stderr, exit 1, not a traceback."""
    try:
        yield
    except Exception as exc:
        reason = database_refusal(exc)
        if reason is None:
            raise
        sys.stderr.write(f"{program}: refusing to start: {reason}\n")
        raise SystemExit(UNUSABLE_DATABASE) from None
