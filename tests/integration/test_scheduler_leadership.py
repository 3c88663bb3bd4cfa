"""One scheduler leads at a time (PostgreSQL advisory lock)."""

from __future__ import annotations

from switchboard.scheduler.leader import Leadership


def test_only_one_of_two_schedulers_leads_until_the_leader_lets_go(pg) -> None:
    first, second = Leadership(), Leadership()
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        first.release()
        assert second.try_acquire() is True
    finally:
        first.release()
        second.release()
