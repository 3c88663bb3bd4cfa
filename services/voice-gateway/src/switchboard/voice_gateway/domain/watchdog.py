"""When a call should be nudged or ended: caller silence and maximum duration.

Pure decisions over timestamps; the session's watchdog task feeds it a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class WatchdogAction(enum.Enum):
    """What the watchdog wants done."""

    PROMPT_SILENT_CALLER = "prompt_silent_caller"
    HANG_UP_SILENCE = "silence_timeout"
    HANG_UP_MAX_DURATION = "max_duration"


@dataclass(slots=True)
class CallWatchdog:
    """Decides, from the times things happened, whether a call needs a nudge or an end.

    Silence counts from the later of the caller's last speech and the end of the agent's
    last audio: the caller is not silent while the agent is still talking.
    """

    started_at: float
    silence_timeout_s: float
    max_call_s: float
    last_activity_at: float = 0.0
    prompted_at: float | None = None

    def __post_init__(self) -> None:
        self.last_activity_at = max(self.last_activity_at, self.started_at)

    def activity(self, now: float) -> None:
        """The caller spoke or the agent finished talking: the silence clock restarts."""
        self.last_activity_at = now
        self.prompted_at = None

    def check(self, now: float, *, agent_speaking: bool) -> WatchdogAction | None:
        """The action due at ``now``, if any (each prompt is returned once)."""
        if self.max_call_s > 0 and now - self.started_at >= self.max_call_s:
            return WatchdogAction.HANG_UP_MAX_DURATION
        if agent_speaking or self.silence_timeout_s <= 0:
            return None
        if self.prompted_at is not None:
            if now - self.prompted_at >= self.silence_timeout_s:
                return WatchdogAction.HANG_UP_SILENCE
            return None
        if now - self.last_activity_at >= self.silence_timeout_s:
            self.prompted_at = now
            return WatchdogAction.PROMPT_SILENT_CALLER
        return None

    def agent_finished(self, now: float) -> None:
        """The agent's audio ran out; a pending prompt keeps counting from its own time."""
        self.last_activity_at = max(self.last_activity_at, now)
        if self.prompted_at is not None:
            self.prompted_at = max(self.prompted_at, now)
