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
- a thread of its own restarts the server when it exits, after ``restart_delay``, and logs
  ``worker.status_server_restarted`` with its exit status;
- the signals that stop Dramatiq's workers (SIGTERM, SIGINT, SIGHUP: its handlers take them,
  this thread sees them through ``signal.set_wakeup_fd``) stop the server at once and end the
  restarts, as Dramatiq stopped its fork processes; so does ``stop``, when Dramatiq returns.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from dramatiq.cli import HANDLED_SIGNALS, try_block_signals

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
#: How often the watching thread looks whether the server is still running.
POLL_S = 0.25
#: How long a stopped server has to exit before it is killed.
STOP_TIMEOUT_S = 5.0
_STOP_BYTES = frozenset({0, *(int(number) for number in HANDLED_SIGNALS)})


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
    """Runs the status server on ``port`` and restarts it when it exits, until stopped."""

    def __init__(self, port: int) -> None:
        """Bind the port (raises ``OSError`` if it is taken or not allowed)."""
        # SO_REUSEADDR (as http.server): a previous run's connections in TIME_WAIT do not count.
        self._listener = socket.create_server(("0.0.0.0", port))  # noqa: S104 - probed from outside
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._stopping = False
        self._server: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._previous_wakeup_fd: int | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="status-supervisor", daemon=True)
        os.register_at_fork(after_in_child=self._leave_to_parent)

    def start(self) -> None:
        """Start the server and the thread that restarts it; from the main thread, the
        signals that stop the worker stop it too."""
        self._spawn()
        if threading.current_thread() is threading.main_thread():
            self._previous_wakeup_fd = signal.set_wakeup_fd(
                self._wake_write, warn_on_full_buffer=False
            )
        self._thread.start()

    def stop(self) -> None:
        """Stop the server for good, release the port (idempotent; from the starting thread)."""
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous_wakeup_fd = None
        if self._thread.is_alive():
            os.write(self._wake_write, b"\0")
            self._thread.join()
        self._shut_down()
        self._close()

    def _leave_to_parent(self) -> None:
        """In a process forked from this one (Dramatiq's worker processes): the socket, the
        pipe and the signals' wakeup are the main process's. Inherited, a worker process's
        own SIGTERM would reach the main process's thread as a stop, and a worker process
        that outlived the main process would keep the port."""
        if self._previous_wakeup_fd is not None:
            with contextlib.suppress(ValueError):  # forked from another thread: not ours to set
                signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._listener.close()
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _spawn(self) -> None:
        fd = self._listener.fileno()
        self._started_at = time.monotonic()
        self._server = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", SERVER_MODULE, str(fd), str(os.getpid())], pass_fds=(fd,)
        )

    def _watch(self) -> None:
        # As Dramatiq's main thread does while it sets its handlers: those signals are for it
        # (a thread that does not block them would take them with their default action then).
        try_block_signals()  # type: ignore[no-untyped-call]
        quick_exits = 0
        while (status := self._wait_for_exit()) is not None:
            lived = time.monotonic() - self._started_at
            quick_exits = quick_exits + 1 if lived < QUICK_EXIT_S else 0
            delay = restart_delay(quick_exits)
            if self._stop_requested(delay):
                break
            try:
                self._spawn()
            except OSError as exc:  # no process to be had now: the next try waits longer
                log.error("worker.status_server_start_failed", error=str(exc))
                continue
            log.warning(
                "worker.status_server_restarted",
                exit_code=status,
                signal=_signal_name(status),
                after_s=delay,
            )
        self._shut_down()

    def _wait_for_exit(self) -> int | None:
        """The server's exit status once it exits; ``None`` once the worker stops."""
        assert self._server is not None
        while not self._stop_requested(POLL_S):
            status = self._server.poll()
            if status is not None:
                return status
        return None

    def _stop_requested(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a signal that stops the worker (or ``stop``)."""
        if not self._stopping and select.select([self._wake_read], [], [], timeout)[0]:
            try:
                received = os.read(self._wake_read, 512)
            except BlockingIOError:
                received = b""
            self._stopping = any(number in _STOP_BYTES for number in received)
        return self._stopping

    def _shut_down(self) -> None:
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        self._listener.close()  # the port is free once the server stopped
