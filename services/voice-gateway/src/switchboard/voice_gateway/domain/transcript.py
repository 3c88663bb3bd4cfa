"""The conversation as it happened: turns of agent and caller, with barge-in cuts applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from switchboard.common.events import TranscriptTurn
from switchboard.voice_gateway.domain.playback import truncate_text


@dataclass(slots=True)
class _Turn:
    role: str
    text: str
    at: datetime


class Transcript:
    """Collects turns in the order they began; agent turns are keyed by answer id."""

    def __init__(self) -> None:
        self._turns: list[_Turn] = []
        self._agent: dict[str, _Turn] = {}

    def agent_said(self, item_id: str, text: str, at: datetime) -> None:
        """Record (or complete) the words of agent answer ``item_id``."""
        turn = self._agent.get(item_id)
        if turn is None:
            turn = self._agent[item_id] = _Turn("agent", text, at)
            self._turns.append(turn)
        else:
            turn.text = text

    def agent_interrupted(self, item_id: str, played_ms: int, total_ms: int) -> None:
        """Keep only what the caller heard of answer ``item_id``."""
        turn = self._agent.get(item_id)
        if turn is not None:
            turn.text = truncate_text(turn.text, played_ms, total_ms)

    def caller_said(self, text: str, at: datetime) -> None:
        """Record something the caller said."""
        if text.strip():
            self._turns.append(_Turn("caller", text.strip(), at))

    def turns(self) -> list[TranscriptTurn]:
        """The non-empty turns, ready for the ``call.ended`` event."""
        return [
            TranscriptTurn(role="agent" if t.role == "agent" else "caller", text=t.text, at=t.at)
            for t in self._turns
            if t.text
        ]
