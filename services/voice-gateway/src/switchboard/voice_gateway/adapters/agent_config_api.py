"""Agent configs from the API's internal REST endpoint."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from switchboard.common.http_observability import REQUEST_ID_HEADER
from switchboard.common.logging import correlation_fields, get_logger
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.agent_config import (
    AgentConfigSource,
    AgentConfigUnavailable,
    FetchedConfig,
)

log = get_logger(__name__)


class ApiAgentConfigSource(AgentConfigSource):
    """``GET {API_BASE_URL}/internal/v1/agent-config?to=<number>`` with the internal token."""

    def __init__(
        self,
        api_base_url: str,
        internal_api_token: str,
        timeout_s: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {internal_api_token}"},
            timeout=timeout_s,
            transport=transport,  # None: the network; tests hand in the API app itself
        )

    async def get(self, phone_number: str) -> AgentConfig | None:
        """The config for the number; None on 404; ``AgentConfigUnavailable`` otherwise."""
        return (await self.revalidate(phone_number, None)).config

    async def revalidate(self, phone_number: str, known: FetchedConfig | None) -> FetchedConfig:
        """Ask with ``If-None-Match`` when a config is known: 304 keeps it, 200 replaces it."""
        etag = known.etag if known is not None else None
        headers = {"If-None-Match": etag} if etag else {}
        request_id = correlation_fields().get("request_id")
        if request_id is not None:  # the call's webhook's: the API's lines for it say it too
            headers[REQUEST_ID_HEADER] = request_id
        try:
            response = await self._client.get(
                "/internal/v1/agent-config", params={"to": phone_number}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise AgentConfigUnavailable(f"API unreachable: {type(exc).__name__}") from exc
        if response.status_code == 304 and known is not None:
            return known
        if response.status_code == 404:
            return FetchedConfig(None)
        if response.status_code != 200:
            raise AgentConfigUnavailable(f"API answered {response.status_code}")
        try:
            config = AgentConfig.model_validate_json(response.content)
        except ValidationError as exc:
            raise AgentConfigUnavailable("API sent an unreadable agent config") from exc
        return FetchedConfig(config, response.headers.get("etag"))

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
