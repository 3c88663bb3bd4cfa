from pathlib import Path

import pytest

from switchboard.common.settings import Settings
from switchboard.voice_gateway.config import GatewaySettings


def test_gateway_settings_read_the_gateway_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY__EVENT_QUEUE", "")
    monkeypatch.setenv("GATEWAY__MARK_EVERY_MS", "400")
    monkeypatch.setenv("gateway__event_spool_dir", "/spool")

    settings = GatewaySettings()

    assert (settings.event_queue, settings.mark_every_ms) == ("", 400)
    assert settings.event_spool_dir == Path("/spool")


def test_the_defaults_declare_the_api_consumers_queue() -> None:
    settings = GatewaySettings(_env_file=None)
    assert settings.event_queue == "switchboard.api.call-events"
    assert settings.event_spool_dir is None


def test_the_shared_settings_leave_gateway_variables_to_the_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY__MARK_EVERY_MS", "400")
    settings = Settings()  # an unknown variable is ignored, not an error
    assert "gateway" not in Settings.model_fields and not hasattr(settings, "gateway")
