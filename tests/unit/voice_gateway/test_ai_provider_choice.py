"""Which AI provider a call uses: AI_PROVIDER for the deployment, the agent settings per
business."""

from __future__ import annotations

import pytest

from switchboard.common.settings import Settings
from switchboard.voice_gateway.adapters.ai_router import ProviderRouter
from switchboard.voice_gateway.adapters.gemini_live import GeminiLiveProvider
from switchboard.voice_gateway.adapters.offline_agent import OfflineAgentProvider
from switchboard.voice_gateway.adapters.openai_realtime import OpenAIRealtimeProvider
from switchboard.voice_gateway.bootstrap import default_ai_provider
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.ports.ai import CallContext, ScriptedAIProvider
from tests.support.log_capture import capture_logs
from tests.unit.voice_gateway.wiring import AGENT

CALL = CallContext("CA1", "inbound", "+15557654321", AGENT.phone_number)


def _router(**settings: str) -> ProviderRouter:
    provider = default_ai_provider(Settings(_env_file=None, **settings), GatewaySettings())
    assert isinstance(provider, ProviderRouter)
    return provider


def test_without_keys_every_call_gets_the_offline_agent() -> None:
    router = _router(openai_api_key="", gemini_api_key="")
    assert router.default == "offline" and list(router.providers) == ["offline"]


def test_an_openai_key_makes_openai_the_default_as_before() -> None:
    router = _router(openai_api_key="sk-test", gemini_api_key="g-test")
    assert router.default == "openai"
    assert isinstance(router.providers["openai"], OpenAIRealtimeProvider)
    assert isinstance(router.providers["gemini"], GeminiLiveProvider)


def test_ai_provider_chooses_the_default_among_the_configured_ones() -> None:
    assert _router(openai_api_key="sk-test", gemini_api_key="g", ai_provider="gemini").default == (
        "gemini"
    )
    assert _router(openai_api_key="sk-test", ai_provider="offline").default == "offline"
    assert _router(openai_api_key="sk-test", ai_provider="gemini").name == "openai"


def test_ai_provider_naming_a_provider_without_its_key_falls_back_with_a_warning() -> None:
    with capture_logs() as logs:
        router = _router(openai_api_key="", gemini_api_key="", ai_provider="gemini")
    assert router.default == "offline"
    assert [(e["event"], e["provider"]) for e in logs] == [("ai_provider_without_key", "gemini")]


def test_an_unknown_ai_provider_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="ai_provider"):
        Settings(_env_file=None, ai_provider="watson")


async def test_a_business_naming_a_configured_provider_gets_it() -> None:
    openai, gemini = ScriptedAIProvider(), ScriptedAIProvider()
    router = ProviderRouter({"openai": openai, "gemini": gemini}, "openai")

    await router.open(AGENT.model_copy(update={"ai_provider": "gemini"}), CALL)
    await router.open(AGENT, CALL)

    assert (len(gemini.conversations), len(openai.conversations)) == (1, 1)


async def test_a_business_naming_a_provider_without_a_key_gets_the_default_and_a_warning() -> None:
    openai = ScriptedAIProvider()
    router = ProviderRouter({"openai": openai, "offline": OfflineAgentProvider()}, "openai")

    with capture_logs() as logs:
        await router.open(AGENT.model_copy(update={"ai_provider": "gemini"}), CALL)

    assert len(openai.conversations) == 1
    (warning,) = logs
    assert warning["event"] == "ai_provider_not_configured" and warning["log_level"] == "warning"
    assert (warning["business_id"], warning["wanted"], warning["using"]) == (
        AGENT.business_id,
        "gemini",
        "openai",
    )
    assert AGENT.phone_number not in str(warning)


def test_a_router_without_its_default_provider_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="gemini"):
        ProviderRouter({"openai": ScriptedAIProvider()}, "gemini")


class _WarmingProvider(ScriptedAIProvider):
    def __init__(self) -> None:
        super().__init__()
        self.warmed = False

    async def warm_up(self) -> None:
        self.warmed = True


async def test_warming_the_router_warms_every_provider_a_call_may_be_routed_to() -> None:
    openai, gemini = _WarmingProvider(), _WarmingProvider()
    router = ProviderRouter({"openai": openai, "gemini": gemini}, "openai")

    await router.warm_up()

    assert openai.warmed and gemini.warmed
