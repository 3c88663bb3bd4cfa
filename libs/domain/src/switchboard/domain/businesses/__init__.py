"""Businesses: the tenants, their settings, their agent's prompts and their warm-up.

``accounts`` creates businesses and issues and checks their API keys; ``settings`` reads and
changes a business's settings and its agent's; ``prompts`` builds and stores the agent's
system prompt per channel; ``warmup`` reads a business's settings, builds its prompts and
constructs its adapters ahead of its first call.
"""

from switchboard.domain.businesses.accounts import (
    BusinessExistsError,
    api_key_is_live,
    business_for_api_key,
    business_for_number,
    create_business,
    issue_api_key,
    live_api_key,
)
from switchboard.domain.businesses.prompts import prebuild_prompts
from switchboard.domain.businesses.settings import (
    BusinessSettings,
    business_settings,
    list_businesses,
    own_settings,
    update_business,
    update_own_settings,
)
from switchboard.domain.businesses.warmup import (
    warmup_agents,
    warmup_business,
    warmup_lazy_services,
)

__all__ = [
    "BusinessExistsError",
    "BusinessSettings",
    "api_key_is_live",
    "business_for_api_key",
    "business_for_number",
    "business_settings",
    "create_business",
    "issue_api_key",
    "list_businesses",
    "live_api_key",
    "own_settings",
    "prebuild_prompts",
    "update_business",
    "update_own_settings",
    "warmup_agents",
    "warmup_business",
    "warmup_lazy_services",
]
