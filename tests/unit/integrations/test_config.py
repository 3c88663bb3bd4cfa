"""Integration settings: read from Settings when declared there, with sensible defaults."""

from __future__ import annotations

from pathlib import Path

from switchboard.common.integrations import config
from switchboard.common.integrations.vapid import generate_vapid_keys, load_vapid_keys
from switchboard.common.integrations.webhooks_out import HttpWebhookSender
from switchboard.common.settings import Settings
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver


class SettingsWithIntegrationFields(Settings):
    """Settings as they will look once the integration fields are declared."""

    webhook_allowlist: str = " 127.0.0.1 , n8n.internal,10.0.0.0/8,"
    recordings_dir: str = ""
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:owner@example.com"
    openai_text_model: str = "gpt-test"


def test_defaults_apply_while_the_fields_are_not_declared(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)

    assert config.webhook_allowlist(settings) == ()
    assert config.recordings_dir(settings) == tmp_path / "recordings"
    assert config.openai_text_model(settings) == config.DEFAULT_OPENAI_TEXT_MODEL
    assert config.vapid_subject(settings) == config.DEFAULT_VAPID_SUBJECT


def test_declared_fields_are_read_and_the_allowlist_is_split_on_commas() -> None:
    settings = SettingsWithIntegrationFields(recordings_dir="/srv/recordings")

    assert config.webhook_allowlist(settings) == ("127.0.0.1", "n8n.internal", "10.0.0.0/8")
    assert config.recordings_dir(settings) == Path("/srv/recordings")
    assert config.openai_text_model(settings) == "gpt-test"


def test_a_configured_vapid_key_is_used_instead_of_the_dev_key(tmp_path: Path) -> None:
    keys = generate_vapid_keys()
    settings = SettingsWithIntegrationFields(
        var_dir=tmp_path, vapid_private_key=keys.private_key_pem()
    )

    loaded = load_vapid_keys(settings)

    assert loaded.public_key == keys.public_key and loaded.subject == "mailto:owner@example.com"
    assert not (tmp_path / "vapid_private_key.pem").exists()


def test_the_webhook_sender_from_settings_honours_the_allowlist(
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    sender = HttpWebhookSender.from_settings(SettingsWithIntegrationFields())

    assert sender.send(webhook_receiver.url_for(), {"a": 1}, SECRET).outcome == "delivered"
