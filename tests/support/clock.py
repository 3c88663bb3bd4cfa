"""A clock a test moves by hand, for code that reads ``time.monotonic()`` through its module's
``time`` (``monkeypatch.setattr(module, "time", MonotonicClock())``)."""

from __future__ import annotations


class MonotonicClock:
    """``time`` as the code under test reads it: ``monotonic`` returns ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now
