"""A business's agent settings may name the AI provider of its calls; the gateway's config
carries it."""

from __future__ import annotations

import httpx
import pytest

from switchboard.voice_gateway.adapters.agent_config_api import ApiAgentConfigSource
from tests.support.factories import make_business
from tests.unit.api.rows import auth


def _agent(client, headers) -> dict:
    return client.get("/api/v1/businesses/me", headers=headers).json()["agent"]


def _patch_provider(client, headers, value):
    return client.patch(
        "/api/v1/businesses/me", json={"agent": {"ai_provider": value}}, headers=headers
    )


def _gateway_config(client, embedded, phone: str) -> dict:
    token = {"Authorization": f"Bearer {embedded.internal_api_token}"}
    response = client.get("/internal/v1/agent-config", params={"to": phone}, headers=token)
    assert response.status_code == 200
    return response.json()


def test_a_new_business_uses_the_deployments_default_provider(client, embedded) -> None:
    business = make_business()
    assert _agent(client, auth(business.api_key))["ai_provider"] is None
    assert _gateway_config(client, embedded, business.phone_number)["ai_provider"] is None


@pytest.mark.parametrize("provider", ["openai", "gemini", "offline"])
def test_a_business_chooses_a_provider_and_the_gateway_config_names_it(
    client, embedded, provider: str
) -> None:
    business = make_business()
    headers = auth(business.api_key)

    response = _patch_provider(client, headers, provider)

    assert response.status_code == 200 and response.json()["agent"]["ai_provider"] == provider
    assert _agent(client, headers)["ai_provider"] == provider
    assert _gateway_config(client, embedded, business.phone_number)["ai_provider"] == provider


def test_null_puts_a_business_back_on_the_default_and_other_changes_keep_the_choice(
    client,
) -> None:
    headers = auth(make_business().api_key)
    _patch_provider(client, headers, "gemini")
    client.patch("/api/v1/businesses/me", json={"agent": {"greeting": "Hi!"}}, headers=headers)
    assert _agent(client, headers)["ai_provider"] == "gemini"

    assert _patch_provider(client, headers, None).status_code == 200
    assert _agent(client, headers)["ai_provider"] is None


@pytest.mark.parametrize("bad", ["watson", "Gemini", "", 3])
def test_an_unknown_provider_is_a_422_that_names_the_choices(client, bad) -> None:
    headers = auth(make_business().api_key)

    response = _patch_provider(client, headers, bad)

    assert response.status_code == 422
    assert "openai" in response.text and "gemini" in response.text and "offline" in response.text
    assert _agent(client, headers)["ai_provider"] is None


def test_one_business_choosing_a_provider_leaves_the_others_alone(client, embedded) -> None:
    chooser, neighbour = make_business(), make_business()

    _patch_provider(client, auth(chooser.api_key), "gemini")

    assert _agent(client, auth(neighbour.api_key))["ai_provider"] is None
    assert _gateway_config(client, embedded, neighbour.phone_number)["ai_provider"] is None


def test_an_admin_sets_any_businesss_provider(client, admin, embedded) -> None:
    business = make_business()
    response = client.patch(
        f"/api/v1/businesses/{business.id}",
        json={"agent": {"ai_provider": "offline"}},
        headers=admin,
    )
    assert response.status_code == 200 and response.json()["agent"]["ai_provider"] == "offline"
    assert _gateway_config(client, embedded, business.phone_number)["ai_provider"] == "offline"


async def test_the_gateways_next_call_gets_a_changed_provider(client, embedded) -> None:
    business = make_business()
    source = ApiAgentConfigSource(
        "http://api", embedded.internal_api_token, 5.0, transport=httpx.ASGITransport(client.app)
    )
    before = await source.get(business.phone_number)
    _patch_provider(client, auth(business.api_key), "gemini")
    after = await source.get(business.phone_number)
    await source.aclose()

    assert before is not None and before.ai_provider is None
    assert after is not None and after.ai_provider == "gemini"
