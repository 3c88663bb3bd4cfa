"""Group commit without a background thread: batches, their leaders, and lingering under load."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from switchboard.worker.runtime.coalesce import Coalescer, Pending
from tests.support.waiting import wait_for


class Recorder:
    """A batch runner that records batch sizes; the first batch blocks until released."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.first_running = threading.Event()
        self.release_first = threading.Event()

    def __call__(self, batch: list[Pending]) -> None:
        self.sizes.append(len(batch))
        if len(self.sizes) == 1:
            self.first_running.set()
            self.release_first.wait(30)
        for item in batch:
            item.result = item.params["n"] * 10


def _one_then_two(coalescer: Coalescer, recorder: Recorder, pool: ThreadPoolExecutor) -> list[int]:
    """Submit 1; while its batch runs, submit 2 and 3; release the first batch; the results."""
    first = pool.submit(coalescer.submit, "op", {"n": 1})
    recorder.first_running.wait(30)
    later = [pool.submit(coalescer.submit, "op", {"n": n}) for n in (2, 3)]
    wait_for(lambda: coalescer.waiting >= 2, interval=0.001, what="two updates waiting")
    recorder.release_first.set()
    return [future.result(30) for future in [first, *later]]


def test_updates_that_arrive_while_a_batch_runs_go_in_the_next_batch_together() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder)
    with ThreadPoolExecutor(3) as pool:
        results = _one_then_two(coalescer, recorder, pool)

    assert results == [10, 20, 30]
    assert recorder.sizes == [1, 2]


def test_under_load_a_leader_lingers_until_its_batch_is_full() -> None:
    recorder = Recorder()
    # A linger far longer than the test: the third batch can only be full if the leader waited.
    coalescer = Coalescer(recorder, linger_s=30.0, fill=3)
    with ThreadPoolExecutor(6) as pool:
        _one_then_two(coalescer, recorder, pool)
        # The last batch held two updates, so the next leader waits for a third.
        third = [pool.submit(coalescer.submit, "op", {"n": n}) for n in (4, 5, 6)]
        results = [future.result(30) for future in third]

    assert results == [40, 50, 60]
    assert recorder.sizes == [1, 2, 3]


def test_an_idle_coalescer_runs_a_lone_update_without_lingering() -> None:
    recorder = Recorder()
    recorder.release_first.set()
    coalescer = Coalescer(recorder, linger_s=30.0, fill=3)

    assert coalescer.submit("op", {"n": 7}) == 70
    assert coalescer.submit("op", {"n": 8}) == 80
    assert recorder.sizes == [1, 1]
