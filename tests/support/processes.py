"""Running Switchboard's services as real processes in tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support import private_data
from tests.support.environment import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``switchboard ARGS`` run to its end as a user runs it, a process of its own with ``env``
    as its whole environment, in ``cwd``: its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "switchboard.cli", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# Ports the kernel hands out for outgoing connections (Linux's default range).
# A port picked from it can be taken by any process's next connection to
# PostgreSQL or RabbitMQ before the service we start binds it, so test
# services listen below it.
_LISTEN_PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on now, outside the kernel's outgoing-connection range.

    Each port is handed out once per test session, so two services started by
    one test never get the same one.
    """
    start = random.randrange(len(_LISTEN_PORTS))
    for offset in range(len(_LISTEN_PORTS)):
        port = _LISTEN_PORTS[(start + offset) % len(_LISTEN_PORTS)]
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port in {_LISTEN_PORTS}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def service_env(**env: str) -> dict[str, str]:
    """The environment for a service process: ours, the test settings, and ``env``."""
    merged = {**os.environ, **TEST_ENV, **{k.upper(): v for k, v in env.items()}}
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), merged.get("PYTHONPATH")]))
    return merged


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ServiceProcess:
    """``switchboard <args>`` in its own process group, with its output in a log file;
    ``launcher`` is the command that runs ``switchboard`` (default: this interpreter).

    ``sigint_default``: the process starts with SIGINT's default action, as from a terminal,
    even when this one was started with SIGINT ignored (a background job of a script), which
    a child inherits and Python then leaves ignored: a test of Ctrl-C needs it."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log_path: Path,
        launcher: list[str] | None = None,
        *,
        sigint_default: bool = False,
    ) -> None:
        self.log_path = log_path
        if private_data.is_collecting():
            # Scanned for private values afterwards: every event is printed, not only warnings.
            env = {**env, "LOG_LEVEL": "INFO"}
            private_data.watch(log_path)
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [*(launcher or [sys.executable, "-m", "switchboard.cli"]), *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint if sigint_default else None,  # noqa: PLW1509
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (the master and every worker process)."""
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 20, *, whole_group: bool = True) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time.

        ``whole_group=False`` signals the main process only, as ``docker stop`` does: a
        Dramatiq worker process that gets SIGTERM twice (from the group, then forwarded by
        its main process) exits at once instead of finishing its jobs.
        """
        if self.alive:
            if whole_group:
                os.killpg(self.proc.pid, signal.SIGTERM)
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return int(self.proc.returncode)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
