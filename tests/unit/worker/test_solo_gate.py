"""The solo gate: a job taken over from a dead worker runs with nothing beside it."""

from __future__ import annotations

import threading

from switchboard.worker.runtime.solo import Hold, SoloGate
from tests.support.waiting import wait_for

WAIT_S = 5


def _in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_solo_job_waits_for_the_running_jobs_and_holds_new_ones_back() -> None:
    gate = SoloGate()
    running = gate.enter_shared()
    solo_in, later_in = threading.Event(), threading.Event()
    holds: dict[str, Hold] = {}

    def solo() -> None:
        holds["solo"] = gate.enter_solo(gate.enter_shared())
        solo_in.set()

    def later() -> None:
        holds["later"] = gate.enter_shared()
        later_in.set()

    solo_thread = _in_thread(solo)
    # The solo job gave its shared hold up and now waits for the running one.
    assert not solo_in.wait(0.2)
    later_thread = _in_thread(later)
    assert not later_in.wait(0.2), "an ordinary job started while a solo job was waiting"

    gate.leave(running)
    assert solo_in.wait(WAIT_S)
    assert gate.running_solo
    assert not later_in.is_set(), "an ordinary job started beside a solo job"

    gate.leave(holds["solo"])
    assert later_in.wait(WAIT_S)
    assert not gate.running_solo
    gate.leave(holds["later"])
    solo_thread.join(WAIT_S)
    later_thread.join(WAIT_S)


def test_two_solo_jobs_run_one_after_the_other() -> None:
    gate = SoloGate()
    first = gate.enter_solo()
    second_in = threading.Event()
    holds: list[Hold] = []

    def second() -> None:
        holds.append(gate.enter_solo())
        second_in.set()

    thread = _in_thread(second)
    assert not second_in.wait(0.2)
    gate.leave(first)
    assert second_in.wait(WAIT_S)
    gate.leave(holds[0])
    thread.join(WAIT_S)
    assert gate.enter_shared() is Hold.SHARED


def test_a_running_job_learns_that_others_wait_for_it_to_make_way() -> None:
    gate = SoloGate()
    running = gate.enter_shared()
    assert not gate.others_waiting(running)
    holds: dict[str, Hold] = {}
    solo_thread = _in_thread(lambda: holds.setdefault("solo", gate.enter_solo()))
    # A solo job waits for the ordinary one.
    wait_for(lambda: gate.others_waiting(running), timeout=WAIT_S)

    gate.leave(running)
    solo_thread.join(WAIT_S)
    solo = holds["solo"]
    assert not gate.others_waiting(solo)
    later_thread = _in_thread(lambda: holds.setdefault("later", gate.enter_shared()))
    # An ordinary job waits behind the solo one.
    wait_for(lambda: gate.others_waiting(solo), timeout=WAIT_S)

    gate.leave(solo)
    later_thread.join(WAIT_S)
    assert not gate.others_waiting(holds["later"])
    gate.leave(holds["later"])


def test_a_solo_job_alone_at_last_waits_for_the_marks_the_jobs_before_it_owe() -> None:
    """A job that left may not have its outcome committed yet: a death now would count it."""
    gate = SoloGate()
    running = gate.enter_shared()
    written = gate.owing()  # its success is owed to the consumer
    gate.leave(running)
    solo_in = threading.Event()
    holds: list[Hold] = []

    def solo() -> None:
        holds.append(gate.enter_solo())
        solo_in.set()

    thread = _in_thread(solo)
    assert not solo_in.wait(0.2), "a solo job started while a mark before it was unwritten"
    assert gate.unwritten == 1
    written()
    assert solo_in.wait(WAIT_S)
    assert gate.unwritten == 0
    gate.leave(holds[0])
    thread.join(WAIT_S)


def test_a_mark_that_never_comes_holds_one_solo_job_back_for_a_while_and_no_other() -> None:
    gate = SoloGate(unwritten_wait_s=0.1)
    gate.owing()  # lost with its consumer: never told
    gate.leave(gate.enter_solo())  # after 0.1 s
    assert gate.unwritten == 0
    gate.owing()()  # a mark told at once holds nobody
    assert gate.unwritten == 0
