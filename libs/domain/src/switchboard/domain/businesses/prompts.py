"""The agent's system prompt, built from the business's agent settings and stored per channel.

``prebuild_prompts`` writes one ``prebuilt_prompts`` row per channel; the gateway reads the
voice prompt through ``/internal/v1/agent-config`` and WhatsApp replies read the other one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.logging import get_logger
from switchboard.common.models import AgentSettings, Business, PrebuiltPrompt
from switchboard.domain.businesses.settings import load_settings

log = get_logger(__name__)

CHANNELS = ("voice", "whatsapp")
_CHANNEL_RULES = {
    "voice": (
        "You are speaking on the phone: answer in one or two short spoken sentences, "
        "never use lists, links or emoji, and ask one question at a time."
    ),
    "whatsapp": (
        "You are chatting on WhatsApp: answer in a few short lines of plain text, "
        "and ask one question at a time. A customer's line in square brackets, like "
        "[sent a photo], says what they sent besides text: you cannot see, hear or open it."
    ),
}


def build_system_prompt(business: Business, agent: AgentSettings, channel: str) -> str:
    """The system prompt for ``channel`` from the business's name and agent settings."""
    lines = [
        f"You are {agent.agent_name}, the assistant of {business.name}.",
        _CHANNEL_RULES[channel],
        f"Reply in the language with code '{agent.language}' unless the customer uses another.",
        "Collect the customer's name and e-mail when they want to book or be contacted.",
    ]
    if agent.instructions.strip():
        lines.append(f"Business instructions: {agent.instructions.strip()}")
    return "\n".join(lines)


def prebuild_prompts(business_id: int) -> list[str]:
    """Build and store every channel's prompt; returns the channels whose prompt changed.

    A settings change queues this job and the business's warm-up, which calls it too: two
    builds of one business may run at once. The first to insert a channel's row wins and the
    other updates it (no unique-key failure and retry), and rows are updated locked, so a
    version is never counted twice.
    """
    changed: list[str] = []
    with tenant_session(business_id) as session:
        found = load_settings(session, business_id)
        business, agent = found.business, found.agent
        for channel in CHANNELS:
            content = build_system_prompt(business, agent, channel)
            if _stored(session, business_id, channel, content):
                changed.append(channel)
    log.info("prompts.prebuilt", business_id=business_id, changed=changed)
    return changed


def _stored(session: Session, business_id: int, channel: str, content: str) -> bool:
    """Store ``content`` as the channel's prompt; False if it was already."""
    row = _locked_row(session, business_id, channel)
    if row is None:
        values = {"business_id": business_id, "channel": channel, "content": content}
        table = PrebuiltPrompt.__table__
        row_values = {**values, "version": 1, "built_at": utcnow()}
        if insert_ignoring_conflicts(session, table, row_values):  # type: ignore[arg-type]
            return True
        row = _locked_row(session, business_id, channel)  # another build inserted it first
        assert row is not None  # rows are never deleted but with their business
    if row.content == content:
        return False
    row.content, row.version, row.built_at = content, row.version + 1, utcnow()
    return True


def _locked_row(session: Session, business_id: int, channel: str) -> PrebuiltPrompt | None:
    return session.execute(
        select(PrebuiltPrompt)
        .where(PrebuiltPrompt.business_id == business_id, PrebuiltPrompt.channel == channel)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def prompt_for(session: Session, business_id: int, channel: str) -> str:
    """The stored prompt for ``channel``, or one built now if none is stored yet."""
    content = session.execute(
        select(PrebuiltPrompt.content).where(
            PrebuiltPrompt.business_id == business_id, PrebuiltPrompt.channel == channel
        )
    ).scalar_one_or_none()
    if content is not None:
        return content
    found = load_settings(session, business_id)
    business, agent = found.business, found.agent
    return build_system_prompt(business, agent, channel)


def missing_channels(session: Session, business_id: int) -> list[str]:
    """Channels that have no stored prompt yet."""
    stored = set(
        session.execute(
            select(PrebuiltPrompt.channel).where(PrebuiltPrompt.business_id == business_id)
        ).scalars()
    )
    return [channel for channel in CHANNELS if channel not in stored]
