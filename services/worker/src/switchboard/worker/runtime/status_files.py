"""Where a worker process tells its status server about itself: one JSON file per process.

Apart from ``observability.py``, which writes them, so that the status server, a program of its
own (re)started beside the worker processes, reads them without importing what the worker
processes run (the ledger, SQLAlchemy): it comes up in a tenth of the time, and its start does
not compete with theirs for the cores.
"""

from __future__ import annotations

import os
from pathlib import Path

#: How often (at most) a worker process rewrites its status file.
STATUS_INTERVAL_S = 1.0


def status_dir() -> Path | None:
    """The status server's directory, if this worker has one: Prometheus' multiprocess
    directory, named by its own variable (set by ``status_server.prepare`` before forking)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(directory) if directory else None


def status_path(directory: Path, pid: int) -> Path:
    """Where the worker process ``pid`` writes its status for the status server."""
    return directory / f"status_{pid}.json"
