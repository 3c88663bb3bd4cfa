"""Integration settings read in one place, with their defaults.

TODO(settings): these fields belong on ``switchboard.common.settings.Settings``. Until they are
declared there, each function reads the attribute if present and falls back to the default, so
adding the field to ``Settings`` only needs the ``getattr`` shim below replaced.
"""

from __future__ import annotations

from pathlib import Path

from switchboard.common.settings import Settings

DEFAULT_OPENAI_TEXT_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_TRANSCRIBE_MODEL = "whisper-1"
DEFAULT_VAPID_SUBJECT = "mailto:ops@switchboard.local"


def _setting(settings: Settings, name: str, default: object) -> object:
    # TODO(settings): shim until the field exists on Settings; replace with attribute access.
    return getattr(settings, name, default)


def twilio_api_base_url(settings: Settings) -> str:
    """Where the Twilio REST API lives (a local fake in tests)."""
    return settings.twilio_api_base_url.rstrip("/")


def integration_timeout_s(settings: Settings) -> float:
    """Seconds one HTTP call to Twilio, OpenAI or a push service may take."""
    return float(str(_setting(settings, "integration_timeout_s", 15.0)))


def openai_text_model(settings: Settings) -> str:
    """The chat model used for replies, analysis and summaries."""
    return str(_setting(settings, "openai_text_model", DEFAULT_OPENAI_TEXT_MODEL))


def openai_transcribe_model(settings: Settings) -> str:
    """The speech-to-text model used for call recordings."""
    return str(_setting(settings, "openai_transcribe_model", DEFAULT_OPENAI_TRANSCRIBE_MODEL))


def webhook_allowlist(settings: Settings) -> tuple[str, ...]:
    """Hosts, IPs and CIDRs that outgoing webhooks may reach even though they are private."""
    raw = str(_setting(settings, "webhook_allowlist", ""))
    return tuple(entry.strip() for entry in raw.split(",") if entry.strip())


def webhook_timeout_s(settings: Settings) -> float:
    """Seconds one outgoing webhook delivery may take."""
    return float(str(_setting(settings, "webhook_timeout_s", 10.0)))


def vapid_private_key(settings: Settings) -> str:
    """The VAPID private key (PEM, or base64url DER/raw); empty means "use the dev key"."""
    return str(_setting(settings, "vapid_private_key", ""))


def vapid_subject(settings: Settings) -> str:
    """The ``sub`` claim of VAPID tokens: a ``mailto:`` or ``https:`` contact."""
    return str(_setting(settings, "vapid_subject", DEFAULT_VAPID_SUBJECT))


def recordings_dir(settings: Settings) -> Path:
    """Where the local recording storage keeps audio files."""
    configured = str(_setting(settings, "recordings_dir", "") or "")
    return Path(configured) if configured else settings.var_dir / "recordings"
