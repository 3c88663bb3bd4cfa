"""The wait before the worker's main process starts its status server again
(``status_supervisor.restart_delay``): short after a server that had run a while, doubling
while it keeps dying at once (a port or a configuration it cannot use), and bounded."""

from __future__ import annotations

from switchboard.worker.status_supervisor import FIRST_DELAY_S, MAX_DELAY_S, restart_delay


def test_a_server_that_had_run_a_while_is_started_again_after_the_first_delay() -> None:
    assert restart_delay(0) == FIRST_DELAY_S


def test_each_quick_exit_in_a_row_doubles_the_delay_up_to_its_bound() -> None:
    delays = [restart_delay(exits) for exits in range(12)]

    assert delays[:4] == [FIRST_DELAY_S, 2 * FIRST_DELAY_S, 4 * FIRST_DELAY_S, 8 * FIRST_DELAY_S]
    assert delays == sorted(delays)
    assert delays[-1] == MAX_DELAY_S
    assert restart_delay(100_000) == MAX_DELAY_S  # no overflow after days of failures
