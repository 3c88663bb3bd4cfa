"""One ``switchboard run`` at a time on a data directory whose database or broker is embedded.

The in-process broker's messages live in one process, so on start the run publishes every live
job of its database to its own broker (``recovery.requeue_unfinished_jobs``), and on SQLite its
scheduler leads without asking anyone (SQLite has no advisory lock). A second run over the same
``VAR_DIR`` (a second ``make run`` on other ports, in the same checkout) shared the first one's
database: it ran the first one's queued and running jobs again, beside it, and emitted every
schedule a second time. So a run takes ``VAR_DIR/run.lock`` (an exclusive ``flock``, which the
kernel frees when the process ends, however it ends) and a second one refuses to start, naming
the first: its pid and the addresses it serves, which it writes into the lock file once it
holds the lock. The lock says whether a run holds the directory; the file only says who, and
is believed only when its pid is the lock's holder (a file left by a run killed is not).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, NoReturn

from switchboard.common.settings import Settings

LOCK_FILE = "run.lock"
#: Control characters (C0, DEL, C1) as ``\x1b``: the file's text never drives the terminal.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
#: Where Linux lists every lock held, with the pid that took it and the file's inode.
PROC_LOCKS = Path("/proc/locks")

#: The locks' open files by directory: held, not closed, for as long as this process runs.
_held: dict[Path, IO[str]] = {}


def needs_run_lock(settings: Settings) -> bool:
    """True when this run's data is one process's: a SQLite database (no ``DATABASE_URL``) or
    the in-process broker (no ``AMQP_URL``)."""
    return not settings.database_url or not settings.amqp_url


def hold_run_lock(var_dir: Path, served: Mapping[str, str]) -> str | None:
    """Take ``var_dir``'s run lock for the rest of this process and write who holds it (its
    pid and ``served``, the addresses it serves by role: ``{"api": URL, "gateway": URL}``);
    None once held, else who holds it (:func:`_holder`)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / LOCK_FILE
    if var_dir.resolve() in _held:
        return None
    file = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            return _holder(path, file)
        finally:
            file.close()
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), **served}) + "\n")
    file.flush()
    _held[var_dir.resolve()] = file
    return None


def _holder(path: Path, file: IO[str]) -> str:
    """Who holds the lock, as ``pid N, API URL, gateway URL``: what the holder wrote of itself,
    if that is the holder's. The lock is the truth, the file only informs: a pid the kernel
    says does not hold it (Linux's ``/proc/locks``), or one no process has any more, wrote
    it before (a run killed, whose lock went with it, then a run that has not written yet), so
    only the holding pid the kernel names is said, if any; ``""`` when nothing is known."""
    holders = _lock_holders(file)
    written = _written(path)
    pid = written.get("pid") if written else None
    if (
        not isinstance(pid, int)
        or (holders is not None and pid not in holders)
        or (holders is None and not _alive(pid))
    ):
        return f"pid {min(holders)}" if holders else ""
    assert written is not None
    served = [
        f"{label} {written[role].translate(_CONTROLS)}"
        for role, label in (("api", "API"), ("gateway", "gateway"))
        if isinstance(written.get(role), str)
    ]
    return ", ".join([f"pid {pid}", *served])


def _written(path: Path) -> dict[str, Any] | None:
    """The lock file's JSON object; None if there is none (empty: being written this instant,
    or by a run that never wrote)."""
    with contextlib.suppress(OSError, ValueError):
        written = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(written, dict):
            return written
    return None


def _lock_holders(file: IO[str]) -> set[int] | None:
    """The pids holding a ``flock`` on ``file``, from ``/proc/locks``; None when that cannot be
    told (not Linux, or no line names the file: another file system's numbering)."""
    try:
        status = os.fstat(file.fileno())
        lines = PROC_LOCKS.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    where = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    holders = set()
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2147522 0 EOF"; a waiter's has "->" after "1:".
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == where:
            with contextlib.suppress(ValueError):
                holders.add(int(fields[4]))
    return holders or None


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (ProcessLookupError, OverflowError):
        return False
    return True


def refuse_a_second_run(settings: Settings, served: Mapping[str, str]) -> None:
    """Hold the run lock of ``settings.var_dir`` when this run needs it; if another run holds
    it, end with one line on stderr naming that run, exit 2, before anything starts."""
    if not needs_run_lock(settings):
        return
    holder = hold_run_lock(settings.var_dir, served)
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
