"""The business's agent, as the API describes it for one phone number."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

#: The providers a business's agent may name (``AI_PROVIDER`` names the deployment's default).
AIProviderName = Literal["openai", "gemini", "offline"]


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
    #: The provider this business's calls use (one of ``AIProviderName``); None: the
    #: deployment's default. A plain string, so a name this gateway does not know yet (an API
    #: newer than the gateway) falls back to the default instead of refusing the call.
    ai_provider: str | None = None
