"""Serving the API with uvicorn (what ``switchboard api`` and ``python -m switchboard.api`` run)."""

from __future__ import annotations

import importlib

import uvicorn

from switchboard.common.startup_imports import startup_imports

DEFAULT_PORT = 8000
APP_MODULE = "switchboard.api.app"


def serve(host: str = "0.0.0.0", port: int = DEFAULT_PORT, workers: int = 1) -> None:  # noqa: S104
    """Run the API in ``workers`` server processes, each with its own event loop.

    The factory (not an app object) lets uvicorn's spawned workers each build theirs, with
    logging configured in that process. With one process uvicorn imports the app's module
    here: it is imported first as a start imports (``startup_imports``).
    """
    if workers == 1:
        with startup_imports():
            importlib.import_module(APP_MODULE)
    uvicorn.run(
        f"{APP_MODULE}:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app's own access line has the route and the request id
        log_level="warning",
        log_config=None,  # uvicorn's lines go through our logging (JSON with LOG_JSON)
        lifespan="on",
    )
