"""Integration settings read in one place, with their defaults.

Each value is a field of :class:`~switchboard.common.settings.Settings`; these functions
normalise it (split lists, choose defaults that depend on other settings).
"""

from __future__ import annotations

from pathlib import Path

from switchboard.common.integrations.twilio_rest import WHATSAPP_STATUS_PATH
from switchboard.common.settings import Settings

DEFAULT_OPENAI_TEXT_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_TRANSCRIBE_MODEL = "whisper-1"
DEFAULT_VAPID_SUBJECT = "mailto:ops@switchboard.local"


def twilio_api_base_url(settings: Settings) -> str:
    """Where the Twilio REST API lives (a local fake in tests)."""
    return settings.twilio_api_base_url.rstrip("/")


def whatsapp_status_url(settings: Settings) -> str:
    """Where Twilio reports whether a WhatsApp message sent was delivered: the API, at the
    public base URL its webhooks are signed for."""
    base = (settings.api_public_base_url or settings.api_base_url).rstrip("/")
    return base + WHATSAPP_STATUS_PATH


def integration_timeout_s(settings: Settings) -> float:
    """Seconds one HTTP call to Twilio, OpenAI or a push service may take."""
    return float(settings.integration_timeout_s)


def openai_text_model(settings: Settings) -> str:
    """The chat model used for replies, analysis and summaries."""
    return settings.openai_text_model


def openai_transcribe_model(settings: Settings) -> str:
    """The speech-to-text model used for call recordings."""
    return settings.openai_transcribe_model


def webhook_allowlist(settings: Settings) -> tuple[str, ...]:
    """Hosts, IPs and CIDRs that outgoing webhooks may reach even though they are private."""
    raw = settings.webhook_allowlist
    return tuple(entry.strip() for entry in raw.split(",") if entry.strip())


def webhook_timeout_s(settings: Settings) -> float:
    """Seconds one outgoing webhook delivery may take."""
    return float(settings.webhook_timeout_s)


def vapid_private_key(settings: Settings) -> str:
    """The VAPID private key (PEM, or base64url DER/raw); empty means "use the dev key"."""
    return settings.vapid_private_key


def vapid_subject(settings: Settings) -> str:
    """The ``sub`` claim of VAPID tokens: a ``mailto:`` or ``https:`` contact."""
    return settings.vapid_subject


def recordings_dir(settings: Settings) -> Path:
    """Where the local recording storage keeps audio files."""
    configured = settings.recordings_dir
    return Path(configured) if configured else settings.var_dir / "recordings"


def recording_max_bytes(settings: Settings) -> int:
    """The largest recording download accepted, in bytes."""
    return int(settings.recording_max_bytes)
