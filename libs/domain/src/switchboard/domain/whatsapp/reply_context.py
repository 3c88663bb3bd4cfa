"""What the agent's reply is written from: the conversation, the prompt and recent turns."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.common.integrations.ai_text import ChatTurn

#: How many of the conversation's latest messages the reply sees.
HISTORY_LENGTH = 20


@dataclass(frozen=True)
class ReplyContext:
    conversation_id: int
    prompt: str
    history: list[ChatTurn]
