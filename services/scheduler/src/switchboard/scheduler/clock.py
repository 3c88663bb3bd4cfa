"""The clock port: the time schedules tick by, so tests can move it instead of waiting."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta


class Clock(ABC):
    """Wall-clock time (aware, UTC) for ticks, monotonic seconds for in-process intervals."""

    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds that only move forward."""


class SystemClock(Clock):
    """The machine's clocks."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


class FakeClock(Clock):
    """A clock that moves only when told to (``set``, ``advance``); both readings move alike."""

    def __init__(self, start: datetime) -> None:
        self._now = self._aware(start)
        self._monotonic = 1000.0

    @staticmethod
    def _aware(moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("FakeClock takes timezone-aware times")
        return moment.astimezone(UTC)

    def now(self) -> datetime:
        """The fake time."""
        return self._now

    def monotonic(self) -> float:
        """Seconds since the clock was made, plus 1000."""
        return self._monotonic

    def set(self, moment: datetime) -> None:
        """Move to ``moment`` (forward only, like time)."""
        moment = self._aware(moment)
        if moment < self._now:
            raise ValueError(f"time does not go back: {moment} is before {self._now}")
        self._monotonic += (moment - self._now).total_seconds()
        self._now = moment

    def advance(self, by: timedelta | float) -> None:
        """Move on by ``by`` (a timedelta, or seconds)."""
        self.set(self._now + (by if isinstance(by, timedelta) else timedelta(seconds=by)))
