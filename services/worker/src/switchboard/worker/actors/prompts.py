"""Prompt jobs: the agent's system prompt, prebuilt from the business's settings."""

from __future__ import annotations

from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import PREBUILD_PROMPT
from switchboard.domain.businesses import prompts


@job_actor(PREBUILD_PROMPT)
def prebuild_prompt_job(*, business_id: int) -> None:
    """Build and store the voice and WhatsApp prompts (the gateway reads the voice one)."""
    prompts.prebuild_prompts(business_id)
