"""Serving the API with uvicorn (what ``switchboard api`` and ``python -m switchboard.api`` run)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import uvicorn

from switchboard.common.clean_stop import CleanStop
from switchboard.common.logging import get_logger
from switchboard.common.startup_imports import startup_imports

DEFAULT_PORT = 8000
APP_MODULE = "switchboard.api.app"
#: uvicorn's exit status when the app failed to start (``uvicorn.run``'s).
STARTUP_FAILURE = 3


class ApiServer(CleanStop, uvicorn.Server):
    """uvicorn's server; SIGTERM and SIGINT stop it cleanly: exit 0, ``api.stopped``."""

    service = "api"


def serve(host: str = "0.0.0.0", port: int = DEFAULT_PORT, workers: int = 1) -> None:  # noqa: S104
    """Run the API in ``workers`` server processes, each with its own event loop, until
    SIGTERM or SIGINT: requests in flight finish, then the process exits 0.

    The factory (not an app object) lets uvicorn's spawned workers each build theirs, with
    logging configured in that process. With one process uvicorn imports the app's module
    here: it is imported first as a start imports (``startup_imports``). With several,
    uvicorn's supervisor takes the signals and stops its processes (it exits 0 itself).
    """
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,  # the app's own access line has the route and the request id
        "log_level": "warning",
        "log_config": None,  # uvicorn's lines go through our logging (JSON with LOG_JSON)
        "lifespan": "on",
    }
    app = f"{APP_MODULE}:create_served_app"
    if workers > 1:
        uvicorn.run(app, **options)
        get_logger(__name__).info("api.stopped", workers=workers)
        return
    with startup_imports():
        importlib.import_module(APP_MODULE)
    server = ApiServer(uvicorn.Config(app, **options))
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
