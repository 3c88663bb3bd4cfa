"""The business's agent, as the API describes it for one phone number."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AgentConfig(BaseModel):
    """Prompt, voice and call limits of the agent that answers one business number."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    business_id: int
    business_name: str
    phone_number: str
    prompt: str
    greeting: str
    voice: str = "alloy"
    language: str = "en-US"
    recording_enabled: bool = False
    max_call_seconds: int = 900
    silence_timeout_s: int = 20
