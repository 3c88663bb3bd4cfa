"""One ``switchboard run`` per ``VAR_DIR`` when its database or broker is embedded
(``switchboard.cli.run_lock``; the second ``make run`` itself: tests/e2e)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.cli import run_lock
from switchboard.common.settings import Settings

POSTGRES = "postgresql://switchboard@127.0.0.1:5432/switchboard"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"

SERVED = {"api": "http://127.0.0.1:9310", "gateway": "http://127.0.0.1:9311"}

#: Another process holding the lock, writing into the file what ``argv[2]`` says (JSON, with
#: ``"pid": "self"`` for its own pid), until its stdin closes.
_HOLDER = """
import fcntl, json, os, sys
file = open(sys.argv[1], "a+")
fcntl.flock(file.fileno(), fcntl.LOCK_EX)
file.seek(0); file.truncate()
written = json.loads(sys.argv[2])
if written.get("pid") == "self":
    written["pid"] = os.getpid()
file.write(json.dumps(written) + "\\n" if written else ""); file.flush()
print("held", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def _held_by(var: Path, written: dict[str, object]) -> Iterator[subprocess.Popen[str]]:
    """``var``'s run lock held by another process, which wrote ``written`` into the file."""
    var.mkdir(exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(var / run_lock.LOCK_FILE), json.dumps(written)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)


@pytest.fixture
def held_elsewhere(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/var``, its run lock held by another run, which wrote who it is."""
    with _held_by(tmp_path / "var", {"pid": "self", **SERVED}):
        yield tmp_path / "var"


def _dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    code = "import os; print(os.getpid())"
    ended = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(ended.stdout)


def test_postgresql_and_rabbitmq_take_no_lock_so_runs_scale_out(held_elsewhere: Path) -> None:
    settings = Settings(database_url=POSTGRES, amqp_url=RABBITMQ, var_dir=held_elsewhere)
    run_lock.refuse_a_second_run(settings, SERVED)  # returns: nothing of it is one process's


def test_the_in_process_broker_on_postgresql_is_refused_pointing_at_amqp_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=POSTGRES, amqp_url="", var_dir=tmp_path / "var")
    with _held_by(tmp_path / "var", {"pid": "self", **SERVED}) as holder:
        with pytest.raises(SystemExit) as exited:
            run_lock.refuse_a_second_run(settings, SERVED)
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"error: another switchboard run (pid {holder.pid}, API http://127.0.0.1:9310, gateway "
        f"http://127.0.0.1:9311) is using {tmp_path / 'var'}/ (its in-process broker is one "
        "run's: a second would run its jobs again); stop it first, or set AMQP_URL for both (a "
        "broker they share)\n"
    )


@pytest.mark.parametrize(
    "written",
    [
        pytest.param({"pid": "dead", **SERVED}, id="a killed run's"),
        pytest.param({"pid": "alive", **SERVED}, id="a live process that holds nothing"),
        pytest.param({}, id="nothing yet"),
    ],
)
def test_what_the_file_says_is_believed_only_of_the_locks_holder(
    tmp_path: Path, written: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """The file stays when its run ends (killed, or refused for a port in use): a run that
    took the lock since and has not written yet leaves it naming a pid that holds nothing, and
    another run's addresses. The lock's holder is named from the kernel's list of locks."""
    pid = {"dead": _dead_pid(), "alive": os.getpid()}.get(str(written.get("pid")))
    var = tmp_path / "var"
    with _held_by(var, {**written, "pid": pid} if written else {}) as holder:
        with pytest.raises(SystemExit) as exited:
            run_lock.refuse_a_second_run(
                Settings(database_url="", amqp_url="", var_dir=var), SERVED
            )
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(
        f"error: another switchboard run (pid {holder.pid}) is using {var}/ "
    )


def test_the_file_s_text_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var = tmp_path / "var"
    with _held_by(var, {"pid": "self", "api": "http://x\x1b[2J\n", "gateway": 1}) as holder:
        with pytest.raises(SystemExit):
            run_lock.refuse_a_second_run(
                Settings(database_url="", amqp_url="", var_dir=var), SERVED
            )
    said = capsys.readouterr().err
    assert said.startswith(f"error: another switchboard run (pid {holder.pid}, API http://x\\x1b")
    assert "\x1b" not in said and said.count("\n") == 1


def test_a_free_directory_is_taken_and_says_who_holds_it(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert run_lock.hold_run_lock(var, SERVED) is None
    try:
        holder = json.loads((var / run_lock.LOCK_FILE).read_text())
        assert holder == {"pid": os.getpid(), **SERVED}
    finally:
        run_lock._held.pop(var.resolve()).close()
