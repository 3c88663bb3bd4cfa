"""Every actor through Dramatiq's in-process worker, against the fake outside services.

The real adapters (``twilio``, ``openai``, ``pywebpush``, httpx) are pointed at local fake
servers through the settings, exactly as production points them at the real services.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest

from switchboard.common.jobs.broker import get_broker
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from switchboard.worker.runtime.inprocess import start_worker
from tests.fakes.openai_http import API_KEY, FakeOpenAIServer, fake_openai
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, fake_twilio
from tests.fakes.web_push import fake_push_service
from tests.fakes.webhook_receiver import webhook_receiver
from tests.support.environment import configured

__all__ = ["fake_openai", "fake_push_service", "fake_twilio", "webhook_receiver"]


def fake_service_env(twilio: FakeTwilioServer, openai: FakeOpenAIServer) -> dict[str, str]:
    """Settings that point every adapter at the fakes (and allow webhooks to 127.0.0.1)."""
    return {
        "twilio_api_base_url": twilio.url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "openai_api_key": API_KEY,
        "openai_base_url": f"{openai.url}/v1",
        "webhook_allowlist": "127.0.0.1",
    }


@pytest.fixture
def jobs_env(
    tmp_path: Path, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> Iterator[Settings]:
    """Embedded SQLite and broker, migrated, with the outside world faked."""
    env = fake_service_env(fake_twilio, fake_openai)
    with configured(database_url="", amqp_url="", var_dir=str(tmp_path / "var"), **env) as settings:
        worker_startup_migrations()
        yield settings


@pytest.fixture
def worker(jobs_env: Settings) -> Iterator[dramatiq.Worker]:
    """Every Switchboard actor, run by an in-process Dramatiq worker."""
    from switchboard.worker import actors

    broker = get_broker()
    actors.install(broker)
    running = start_worker(broker, threads=4, worker_timeout_ms=50)
    yield running
    running.stop()
