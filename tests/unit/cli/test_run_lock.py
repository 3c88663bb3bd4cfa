"""One ``switchboard run`` per ``VAR_DIR`` when its database or broker is embedded
(``switchboard.cli.run_lock``; the second ``make run`` itself: tests/e2e)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.cli import run_lock
from switchboard.common.settings import Settings

POSTGRES = "postgresql://switchboard@127.0.0.1:5432/switchboard"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"

#: Another process holding the lock as a run does, until its stdin closes.
_HOLDER = """
import fcntl, json, sys
file = open(sys.argv[1], "a+")
fcntl.flock(file.fileno(), fcntl.LOCK_EX)
file.seek(0); file.truncate()
file.write(json.dumps({"pid": 4242, "api": "http://127.0.0.1:9310"}) + "\\n"); file.flush()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held_elsewhere(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/var``, its run lock held by another process."""
    var = tmp_path / "var"
    var.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(var / run_lock.LOCK_FILE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield var
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)


def test_postgresql_and_rabbitmq_take_no_lock_so_runs_scale_out(held_elsewhere: Path) -> None:
    settings = Settings(database_url=POSTGRES, amqp_url=RABBITMQ, var_dir=held_elsewhere)
    run_lock.refuse_a_second_run(settings)  # returns: nothing of this run is one process's


def test_the_in_process_broker_on_postgresql_is_refused_pointing_at_amqp_url(
    held_elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=POSTGRES, amqp_url="", var_dir=held_elsewhere)
    with pytest.raises(SystemExit) as exited:
        run_lock.refuse_a_second_run(settings)
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "error: another switchboard run (pid 4242, API http://127.0.0.1:9310) is using "
        f"{held_elsewhere}/ (its in-process broker is one run's: a second would run its jobs "
        "again); stop it first, or set AMQP_URL for both (a broker they share)\n"
    )


def test_a_free_directory_is_taken_and_says_who_holds_it(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert run_lock.hold_run_lock(var, "http://127.0.0.1:9410") is None
    try:
        holder = json.loads((var / run_lock.LOCK_FILE).read_text())
        assert holder["api"] == "http://127.0.0.1:9410" and holder["pid"] > 0
    finally:
        assert run_lock._held is not None
        run_lock._held.close()
        run_lock._held = None
