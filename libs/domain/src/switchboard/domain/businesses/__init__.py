"""Businesses: the tenants, their settings, their agent's prompts and their warm-up.

``accounts`` creates businesses and issues, revokes and checks their API keys;
``dashboard_sessions`` records the dashboard's logged-in sessions; ``settings`` reads and
changes a business's settings and its agent's; ``prompts`` builds and stores the agent's
system prompt per channel; ``warmup`` reads a business's settings, builds its prompts and
constructs its adapters ahead of its first call; ``scheduled`` declares the warm-ups emitted
each time a scheduler starts leading.
"""

from switchboard.domain.businesses.accounts import (
    BusinessExistsError,
    business_for_api_key,
    business_for_number,
    create_business,
    issue_api_key,
    list_api_keys,
    live_api_key,
    revoke_api_key,
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
    "business_for_api_key",
    "business_for_number",
    "business_settings",
    "create_business",
    "issue_api_key",
    "list_api_keys",
    "list_businesses",
    "live_api_key",
    "own_settings",
    "prebuild_prompts",
    "revoke_api_key",
    "update_business",
    "update_own_settings",
    "warmup_agents",
    "warmup_business",
    "warmup_lazy_services",
]
