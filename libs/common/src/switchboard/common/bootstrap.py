"""The outside-world adapters a job process uses, built once from the settings.

Jobs never construct clients themselves: they ask for :func:`adapters` and pass the ports to
the domain functions, which only know the abstract ports (tests point the real adapters at
local fake servers through the settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from switchboard.common.integrations.ai_text import AIText, OfflineAIText
from switchboard.common.integrations.push import PushSender, WebPushSender
from switchboard.common.integrations.sandbox.mode import telephony_mode
from switchboard.common.integrations.storage import RecordingStorage, make_recording_storage
from switchboard.common.integrations.twilio_rest import TwilioRest
from switchboard.common.integrations.webhooks_out import HttpWebhookSender, WebhookSender
from switchboard.common.logging import get_logger
from switchboard.common.settings import Settings, get_settings

log = get_logger(__name__)


def make_ai_text(settings: Settings) -> AIText:
    """The OpenAI adapter when ``OPENAI_API_KEY`` is set, else the offline one."""
    if settings.openai_api_key:
        # Imported only when used: the openai library takes about a second to import.
        from switchboard.common.integrations.openai_text import OpenAIText

        return OpenAIText.from_settings(settings)
    log.info("ai_text.offline", reason="OPENAI_API_KEY is not set")
    return OfflineAIText()


@dataclass
class Adapters:
    """Each port's adapter, created on first use (a worker that never pushes loads no keys)."""

    settings: Settings

    @cached_property
    def twilio(self) -> TwilioRest:
        """Twilio REST (messages, calls, recordings), or its sandbox (``TELEPHONY``)."""
        if telephony_mode(self.settings) == "sandbox":
            from switchboard.common.integrations.sandbox.rest import SandboxTwilioRest

            return SandboxTwilioRest.from_settings(self.settings)
        from switchboard.common.integrations.twilio_client import TwilioRestClient

        return TwilioRestClient.from_settings(self.settings)

    @cached_property
    def ai_text(self) -> AIText:
        """OpenAI when ``OPENAI_API_KEY`` is set, else the offline rules."""
        return make_ai_text(self.settings)

    @cached_property
    def storage(self) -> RecordingStorage:
        """Where recordings are kept."""
        return make_recording_storage(self.settings)

    @cached_property
    def push(self) -> PushSender:
        """Web Push with the configured VAPID keys."""
        return WebPushSender.from_settings(self.settings)

    @cached_property
    def webhooks(self) -> WebhookSender:
        """Signed outgoing webhooks with the SSRF guard."""
        return HttpWebhookSender.from_settings(self.settings)


_adapters: Adapters | None = None


def adapters() -> Adapters:
    """The process's adapters; rebuilt when the settings object changes (tests reconfigure)."""
    global _adapters
    settings = get_settings()
    if _adapters is None or _adapters.settings is not settings:
        _adapters = Adapters(settings)
    return _adapters
