"""A bench stopped with SIGTERM (``kill``, ``pkill``, a CI timeout) stops what it started.

Python's default for SIGTERM ends the process at once, skipping ``finally`` blocks: the API,
workers and fake servers a bench started kept running, each holding its PostgreSQL
connections. As ``SystemExit`` instead, the bench unwinds as on Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _exit(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def stop_cleanly_on_sigterm() -> None:
    """From now on SIGTERM unwinds the main thread (its ``finally`` blocks run)."""
    signal.signal(signal.SIGTERM, _exit)
