"""How a bench stops what it started: its processes (:func:`stop_processes`), and on SIGTERM
(``kill``, ``pkill``, a CI timeout) as on Ctrl-C.

Python's default for SIGTERM ends the process at once, skipping ``finally`` blocks: the API,
workers and fake servers a bench started kept running, each holding its PostgreSQL
connections. As ``SystemExit`` instead, the bench unwinds as on Ctrl-C.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType


def _exit(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def stop_cleanly_on_sigterm() -> None:
    """From now on SIGTERM unwinds the main thread (its ``finally`` blocks run)."""
    signal.signal(signal.SIGTERM, _exit)


def stop_processes(processes: list[subprocess.Popen[bytes]], wait_s: float = 60) -> None:
    """Terminate the processes, then kill those still running ``wait_s`` later."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            process.kill()
