"""``switchboard worker`` refuses options under which it would run nothing: no process or no
thread (Dramatiq started no worker and exited 0, or ran processes that looked alive and ran
nothing), or a ``--queue`` no actor uses (a typo: a worker consuming nothing, reported by its
``/health`` as a stopped consumer loop, while the queue it was meant for waited)."""

from __future__ import annotations

import importlib
import socket

import pytest

from switchboard.common.jobs.broker import make_broker, use_broker
from switchboard.common.settings import Settings
from switchboard.worker.runner import WORKER_MODULE, run_worker


@pytest.mark.parametrize(("processes", "threads"), [(0, 8), (2, 0), (-1, 8)])
def test_no_process_or_no_thread_is_refused_naming_the_options(
    embedded: Settings, capsys: pytest.CaptureFixture[str], processes: int, threads: int
) -> None:
    assert run_worker(processes, threads, [], [], metrics_port=0) == 2
    assert capsys.readouterr().err == (
        f"error: --processes and --threads must be at least 1 (got {processes}, {threads})\n"
    )


@pytest.mark.parametrize(("processes", "threads"), [(99_999_999_999, 8), (2, 10**9), (257, 1)])
def test_processes_or_threads_by_the_billion_are_refused_before_any_fork(
    embedded: Settings, capsys: pytest.CaptureFixture[str], processes: int, threads: int
) -> None:
    """Before, ``--processes 99999999999`` forked until the machine ran out. The metrics port
    given is taken, so that a worker without the check stops there instead of forking."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_worker(processes, threads, [], [], metrics_port=port) == 2
    assert capsys.readouterr().err == (
        f"error: --processes and --threads may be at most 256 and 1024 (got {processes}, "
        f"{threads})\n"
    )


def test_a_queue_no_actor_uses_is_refused_listing_the_queues(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_worker(1, 1, ["calls", "calz"], [], metrics_port=0) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no actor uses the queue calz; the queues are: ")
    assert "calls" in error.split("the queues are: ")[1].split(", ")


def test_the_queues_of_actors_imported_under_another_broker_are_known(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The actors' modules are imported once per process; a broker made since (a test's) has
    not seen their queues declared, and a known queue was refused as a typo (CI, 2026-12-06)."""
    importlib.import_module(WORKER_MODULE)
    use_broker(make_broker(embedded))  # knows no queue yet
    assert run_worker(1, 1, ["calls", "calz"], [], metrics_port=0) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no actor uses the queue calz; the queues are: ")
    assert "calls" in error.split("the queues are: ")[1].strip().split(", ")
