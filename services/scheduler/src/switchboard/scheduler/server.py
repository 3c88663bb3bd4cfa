"""Serving the scheduler (what ``switchboard scheduler`` and ``python -m switchboard.scheduler``
run): its loop and its ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import uvicorn

from switchboard.common.clean_stop import CleanStop
from switchboard.common.settings import get_settings
from switchboard.common.startup_imports import startup_imports

DEFAULT_PORT = 8002
#: uvicorn's exit status when the app failed to start (``uvicorn.run``'s).
STARTUP_FAILURE = 3


class SchedulerServer(CleanStop, uvicorn.Server):
    """uvicorn's server; SIGTERM and SIGINT stop it cleanly: the loop ends (a tick under way
    finishes), exit 0, ``scheduler.stopped``."""

    service = "scheduler"


def serve(host: str, port: int = DEFAULT_PORT, modules: Sequence[str] = ()) -> None:
    """Run the scheduler and its HTTP endpoints until SIGTERM or SIGINT (then exit 0).
    Migrations are applied first, outside uvicorn's lifespan (which would log their refusal as
    a traceback), so the command line says in one line why a database cannot be used."""
    with startup_imports():  # the app's modules are imported here, not with this one's
        from switchboard.common.migrate import worker_startup_migrations
        from switchboard.scheduler.app import create_app

        app = create_app(get_settings(), migrate=False, modules=modules)
    # Outside the pause, as the worker's: a migration's garbage is collected, not frozen.
    worker_startup_migrations()
    # log_config=None: uvicorn's lines go through our logging (JSON with LOG_JSON).
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", log_config=None, lifespan="on"
    )
    server = SchedulerServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
