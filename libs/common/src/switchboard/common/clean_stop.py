"""A uvicorn server's stop on SIGTERM or SIGINT as a clean exit: status 0 and one line.

uvicorn stops gracefully on SIGTERM and SIGINT (requests in flight finish, the lifespan's
shutdown runs: the API's call-event consumer, the scheduler's loop), and then raises the
signal again "to trigger the expected behaviour": the process dies of its own SIGTERM, exit
status 143 (what ``docker``, systemd and Kubernetes report as a failure), or ends in a
KeyboardInterrupt (130), while ``switchboard worker`` and ``switchboard gateway`` exit 0.
:class:`CleanStop` keeps uvicorn's graceful stop and leaves out the raise: the server's
``run`` returns, ``<service>.stopped`` is logged (with the signal), and the stop signals stay
ignored until the process ends, so a copy landing late (``uv run`` passes a SIGINT on 200 ms
later when it has no terminal) is no KeyboardInterrupt either.

It is a mixin, listed before ``uvicorn.Server`` in a service's server class: this package does
not depend on uvicorn (the worker's image has none), the HTTP services do.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from switchboard.common.logging import get_logger

__all__ = ["STOP_SIGNALS", "CleanStop"]

#: The signals that stop a service cleanly (``kill``, ``docker stop``, Ctrl-C).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

log = get_logger(__name__)


class CleanStop:
    """For ``class Server(CleanStop, uvicorn.Server)``: a stop signal is a clean exit."""

    #: Names the line said once stopped: ``<service>.stopped``.
    service = "server"
    #: The first stop signal received, if any.
    stop_signal: int | None = None

    def note_stop(self, sig: int) -> None:
        """Remember the first stop signal (a subclass that handles one itself calls it)."""
        if self.stop_signal is None:
            self.stop_signal = sig

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.note_stop(sig)
        super().handle_exit(sig, frame)  # type: ignore[misc]

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's own, except that the signal is not raised again once stopped."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return
        previous: dict[int, Any] = {
            sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS
        }
        try:
            yield
        finally:
            stopped = self.stop_signal is not None
            for sig, handler in previous.items():
                signal.signal(sig, signal.SIG_IGN if stopped else handler)
        if self.stop_signal is not None:
            log.info(f"{self.service}.stopped", signal=signal.Signals(self.stop_signal).name)
