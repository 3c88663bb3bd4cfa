"""Warming a business up: its settings read, its prompts built, its adapters constructed.

Each is a job, enqueued at start-up and after a business is created, so a slow database or AI
provider delays nothing else. Each checks between its steps whether its job was cancelled
(``raise_if_cancelled``); every step can be repeated, so a worker that dies mid-way leaves
nothing for the redelivery to undo.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from switchboard.common.bootstrap import Adapters
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.jobs import raise_if_cancelled
from switchboard.common.logging import get_logger
from switchboard.common.models import AgentSettings, Business
from switchboard.domain.businesses.prompts import missing_channels, prebuild_prompts

log = get_logger(__name__)


@dataclass(frozen=True)
class WarmupResult:
    """What a warm-up found and did."""

    business_id: int
    prompts_built: list[str]


def _require_business(business_id: int) -> list[str]:
    """Check the business and its agent exist; return the channels without a prompt."""
    with tenant_session(business_id) as session:
        found = session.execute(
            select(Business.id, AgentSettings.id)
            .join(AgentSettings, AgentSettings.business_id == Business.id)
            .where(Business.id == business_id, AgentSettings.business_id == business_id)
        ).first()
        if found is None:
            raise NotFoundError(f"business {business_id} not found")
        return missing_channels(session, business_id)


def warmup_business(business_id: int) -> WarmupResult:
    """A new (or changed) business: build every prompt so the first call needs no work."""
    _require_business(business_id)
    raise_if_cancelled()
    built = prebuild_prompts(business_id)
    log.info("warmup.business", business_id=business_id, prompts_built=built)
    return WarmupResult(business_id, built)


def warmup_agents(business_id: int) -> WarmupResult:
    """The business's agents: build only the prompts that are missing (cheap when warm)."""
    missing = _require_business(business_id)
    raise_if_cancelled()
    built = prebuild_prompts(business_id) if missing else []
    log.info("warmup.agents", business_id=business_id, prompts_built=built)
    return WarmupResult(business_id, built)


def warmup_lazy_services(business_id: int, adapters: Adapters) -> list[str]:
    """Construct the process's adapters (clients, keys, storage) before the first job needs them."""
    _require_business(business_id)
    warmed = []
    for name in ("twilio", "ai_text", "storage", "webhooks"):
        raise_if_cancelled()
        getattr(adapters, name)
        warmed.append(name)
    log.info("warmup.lazy_services", business_id=business_id, services=warmed)
    return warmed
