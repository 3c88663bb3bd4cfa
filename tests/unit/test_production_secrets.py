"""Production refuses to start while any secret is missing, empty or too short, and says which
ones, all at once, one line each, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from switchboard.common.settings import Settings, describe_invalid_settings

SECRETS = (
    "ADMIN_API_KEY",
    "INTERNAL_API_TOKEN",
    "TWILIO_AUTH_TOKEN",
    "MEDIA_TOKEN_SECRET",
    "SESSION_SECRET",
    "VAPID_PRIVATE_KEY",
)


def test_every_unfit_secret_is_named_on_a_line_of_its_own() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(
            environment="production",
            admin_api_key="",
            internal_api_token="dev-internal-token",
            twilio_auth_token="   ",
            media_token_secret="m" * 32,
            session_secret="short",
            vapid_private_key="",
        )

    assert describe_invalid_settings(raised.value) == [
        "ADMIN_API_KEY: empty (at least 32 characters)",
        "INTERNAL_API_TOKEN: not set (still its development default)",
        "TWILIO_AUTH_TOKEN: empty (at least 32 characters)",
        "SESSION_SECRET: too short (5 characters, at least 32 needed)",
        "VAPID_PRIVATE_KEY: not set (Web Push needs the server's P-256 key)",
    ]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_production_refuses_an_ai_provider_without_its_key(provider: str) -> None:
    good = "s" * 32
    with pytest.raises(ValidationError) as raised:
        Settings(
            environment="production",
            admin_api_key=good,
            internal_api_token=good,
            twilio_auth_token=good,
            media_token_secret=good,
            session_secret=good,
            vapid_private_key="v" * 64,
            ai_provider=provider,
            openai_api_key="",
            gemini_api_key="",
        )

    assert describe_invalid_settings(raised.value) == [
        f"AI_PROVIDER={provider}: {provider.upper()}_API_KEY is empty"
    ]


def test_development_keeps_its_defaults_and_accepts_empty_values() -> None:
    settings = Settings(environment="development", session_secret="", vapid_private_key="")

    assert settings.secret_problems() == []


def test_the_api_does_not_start_in_production_with_empty_secrets(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name not in SECRETS}
    env.update(
        ENVIRONMENT="production",
        SESSION_SECRET="",
        TWILIO_AUTH_TOKEN="",
        ADMIN_API_KEY="too-short",
        VAPID_PRIVATE_KEY="",
    )  # INTERNAL_API_TOKEN and MEDIA_TOKEN_SECRET are not set at all

    done = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "api", "--port", "9"],
        env=env,
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        timeout=60,
    )

    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output
    lines = [line.strip() for line in output.splitlines()]
    for name in SECRETS:
        assert len([line for line in lines if line.startswith(f"{name}:")]) == 1, output
