"""The worker's main process keeps its status server (``status_server.py``) running.

Dramatiq starts the processes of ``--fork-function`` once and never looks at them again: a
status server that died (killed, crashed) left the worker running its jobs without
``/health``, ``/ready`` or ``/metrics``, so probes failed (and restarted a pod that worked) or
the scrape silently stopped. So the main process runs the server itself:

- it binds the port before anything starts: a port it cannot have refuses the worker's start
  (``OSError`` to the caller) rather than running blind; and it holds that socket for the run,
  so a restarted server listens on the same port at once and nobody takes it in between (a
  probe during a restart waits in the backlog);
- it starts the server as a program (``python -m switchboard.worker.status_server``), not a
  fork: by then the main process has threads (Dramatiq's log watcher writes to stderr), and a
  fork could inherit a lock one of them holds;
- without a thread of its own (only the voice gateway starts threads): the server's exit
  reaches the main thread as ``SIGCHLD``, whose handler arms a timer (``SIGALRM``) for
  :func:`restart_delay`, whose handler starts the server again and logs
  ``worker.status_server_restarted`` with its exit status. Dramatiq's main thread turns at
  least once a second (it joins its worker processes with a timeout), so both run promptly;
- a server that exited with status 0 was stopped, not lost: by a SIGTERM (the worker's process
  group stopped together, or an operator's), or because the main process was gone. It is not
  started again. :meth:`StatusSupervisor.stop`, once Dramatiq returns, stops it for good.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from switchboard.common.logging import get_logger

log = get_logger(__name__)

#: The program of the server; it takes the listening socket's file descriptor and its
#: parent's process id.
SERVER_MODULE = "switchboard.worker.status_server"
#: Seconds before restarting a server that had run a while.
FIRST_DELAY_S = 0.5
#: The longest wait between restarts of a server that keeps dying at once.
MAX_DELAY_S = 30.0
#: A server that exits sooner than this after its start died "at once": the next delay doubles.
QUICK_EXIT_S = 10.0
#: How long a stopped server has to exit before it is killed.
STOP_TIMEOUT_S = 5.0


def restart_delay(quick_exits: int) -> float:
    """Seconds to wait before the next start, after ``quick_exits`` exits in a row each within
    ``QUICK_EXIT_S`` of its start (0: the server had run a while): ``FIRST_DELAY_S``, doubled
    for each, at most ``MAX_DELAY_S``. A server that cannot start does not spin, one that died
    once after running for hours comes back at once."""
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** min(quick_exits, 32))


def _signal_name(status: int) -> str | None:
    """The signal that ended a process with this (``subprocess``) exit status, if one did."""
    try:
        return signal.Signals(-status).name if status < 0 else None
    except ValueError:  # a real-time signal
        return f"signal {-status}"


class StatusSupervisor:
    """Runs the status server on ``port`` and restarts it when it dies, until stopped; from
    the main thread (signal handlers run there)."""

    def __init__(self, port: int) -> None:
        """Bind the port (raises ``OSError`` if it is taken or not allowed)."""
        # SO_REUSEADDR (as http.server): a previous run's connections in TIME_WAIT do not count.
        self._listener = socket.create_server(("0.0.0.0", port))  # noqa: S104 - probed from outside
        self._server: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._quick_exits = 0
        #: The exit status of the server a restart is waiting for (its timer armed), if any.
        self._lost: int | None = None
        self._stopped = False
        self._closed = False
        self._previous: dict[int, object] = {}
        os.register_at_fork(after_in_child=self._leave_to_parent)

    def start(self) -> None:
        """Start the server, and watch it through the main thread's signal handlers."""
        for number, handler in ((signal.SIGCHLD, self._on_exit), (signal.SIGALRM, self._on_due)):
            self._previous[number] = signal.signal(number, handler)
        self._spawn()

    def stop(self) -> None:
        """Stop the server for good and release the port (idempotent)."""
        self._stopped = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        for number, previous in self._previous.items():
            signal.signal(number, previous)  # type: ignore[arg-type]
        self._previous.clear()
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        self._close()  # the port is free once the server stopped

    def _on_exit(self, signum: int, frame: FrameType | None) -> None:
        """``SIGCHLD`` (any child: a worker process too): if the server is gone, arm the
        timer of its restart, unless it was stopped (exit status 0)."""
        server = self._server
        if self._stopped or self._lost is not None or server is None or server.poll() is None:
            return
        status = server.returncode
        if status == 0:
            self._server = None
            log.info("worker.status_server_stopped")
            return
        lived = time.monotonic() - self._started_at
        self._quick_exits = self._quick_exits + 1 if lived < QUICK_EXIT_S else 0
        self._lost = status
        signal.setitimer(signal.ITIMER_REAL, restart_delay(self._quick_exits))

    def _on_due(self, signum: int, frame: FrameType | None) -> None:
        """``SIGALRM``: start the lost server again."""
        status, self._lost = self._lost, None
        if self._stopped or status is None:
            return
        try:
            self._spawn()
        except OSError as exc:  # no process to be had now: the next try waits longer
            log.error("worker.status_server_start_failed", error=str(exc))
            self._quick_exits += 1
            self._lost = status
            signal.setitimer(signal.ITIMER_REAL, restart_delay(self._quick_exits))
            return
        log.warning(
            "worker.status_server_restarted",
            exit_code=status,
            signal=_signal_name(status),
            after_s=restart_delay(self._quick_exits),
        )

    def _spawn(self) -> None:
        fd = self._listener.fileno()
        self._started_at = time.monotonic()
        self._server = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", SERVER_MODULE, str(fd), str(os.getpid())], pass_fds=(fd,)
        )

    def _leave_to_parent(self) -> None:
        """In a process forked from this one (Dramatiq's worker processes): the socket and the
        server are the main process's. Inherited, a worker process would look after a server
        that is not its child, and one that outlived the main process would keep the port."""
        for number in self._previous:
            signal.signal(number, signal.SIG_DFL)
        self._previous.clear()
        self._stopped = True
        self._server = None
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._listener.close()
