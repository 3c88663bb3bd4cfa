"""One ``switchboard run`` at a time on a data directory whose database or broker is embedded.

The in-process broker's messages live in one process, so on start the run publishes every live
job of its database to its own broker (``recovery.requeue_unfinished_jobs``), and on SQLite its
scheduler leads without asking anyone (SQLite has no advisory lock). A second run over the same
``VAR_DIR`` (a second ``make run`` on other ports, in the same checkout) shared the first one's
database: it ran the first one's queued and running jobs again, beside it, and emitted every
schedule a second time. So a run takes ``VAR_DIR/run.lock`` (an exclusive ``flock``, which the
kernel frees when the process ends, however it ends) and a second one refuses to start, naming
the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import IO, NoReturn

from switchboard.common.settings import Settings

LOCK_FILE = "run.lock"

#: The lock's open file: held, not closed, for as long as this process runs.
_held: IO[str] | None = None


def needs_run_lock(settings: Settings) -> bool:
    """True when this run's data is one process's: a SQLite database (no ``DATABASE_URL``) or
    the in-process broker (no ``AMQP_URL``)."""
    return not settings.database_url or not settings.amqp_url


def hold_run_lock(var_dir: Path, api_url: str) -> str | None:
    """Take ``var_dir``'s run lock for the rest of this process and write who holds it; None
    once held, else what the holder wrote of itself (``pid N, API URL``, or ``""``)."""
    global _held
    if _held is not None:
        return None
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / LOCK_FILE
    file = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        return _holder(path)
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "api": api_url}) + "\n")
    file.flush()
    _held = file
    return None


def _holder(path: Path) -> str:
    """What the holder wrote of itself, as ``pid N, API URL``; ``""`` if it is not readable
    (being written this instant)."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {int(holder['pid'])}, API {holder['api']}"
    return ""


def refuse_a_second_run(settings: Settings) -> None:
    """Hold the run lock of ``settings.var_dir`` when this run needs it; if another run holds
    it, end with one line on stderr naming that run, exit 2, before anything starts."""
    if not needs_run_lock(settings):
        return
    holder = hold_run_lock(settings.var_dir, settings.api_base_url)
    if holder is not None:
        _refuse(settings, holder)


def _refuse(settings: Settings, holder: str) -> NoReturn:
    who = f"another switchboard run ({holder})" if holder else "another switchboard run"
    if not settings.database_url:
        shared = "its SQLite database"
        other = "give this one another VAR_DIR (a database of its own)"
    else:
        shared = "its in-process broker"
        other = "set AMQP_URL for both (a broker they share)"
    sys.stderr.write(
        f"error: {who} is using {settings.var_dir}/ ({shared} is one run's: a second would run "
        f"its jobs again); stop it first, or {other}\n"
    )
    raise SystemExit(2)
