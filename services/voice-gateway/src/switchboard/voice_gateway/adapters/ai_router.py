"""The provider each call uses: the one its business's agent settings name, else the default."""

from __future__ import annotations

from collections.abc import Mapping

from switchboard.common.logging import get_logger
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.ai import AIConversation, AIProvider, CallContext

log = get_logger(__name__)


class ProviderRouter(AIProvider):
    """Opens each conversation with the provider ``config.ai_provider`` names.

    A business may name a provider this deployment has no key for (or one this gateway does
    not know): its calls then go to the default provider, with a warning, rather than fail.
    """

    def __init__(self, providers: Mapping[str, AIProvider], default: str) -> None:
        if default not in providers:
            raise ValueError(f"the default AI provider {default!r} is not configured")
        self.providers = dict(providers)
        self.default = default
        self.name = providers[default].name

    def provider_for(self, config: AgentConfig) -> AIProvider:
        """The provider a call with this agent uses."""
        wanted = config.ai_provider
        if wanted is None or wanted == self.default:
            return self.providers[self.default]
        provider = self.providers.get(wanted)
        if provider is None:
            log.warning(
                "ai_provider_not_configured",
                business_id=config.business_id,
                wanted=wanted[:32],
                using=self.default,
            )
            return self.providers[self.default]
        return provider

    async def warm_up(self) -> None:
        """Ready every provider a call may be routed to."""
        for provider in self.providers.values():
            await provider.warm_up()

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """Open the conversation with the provider the agent's config names."""
        return await self.provider_for(config).open(config, call)
