from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.common.jobs.broker import get_broker
from switchboard.common.settings import Settings
from switchboard.worker.runtime.inprocess import start_worker
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, fake_twilio
from tests.support.environment import configured
from tests.support.worker import redeclare

__all__ = ["fake_twilio"]


@pytest.fixture
def outbound_env(fake_twilio: FakeTwilioServer, tmp_path: Path) -> Iterator[Settings]:
    """Embedded mode with Twilio pointed at the fake and a worker running the outbound actors."""
    from switchboard.common.migrate import worker_startup_migrations

    with configured(
        database_url="",
        amqp_url="",
        var_dir=str(tmp_path / "var"),
        twilio_api_base_url=fake_twilio.url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url="http://gateway.test",
    ) as settings:
        worker_startup_migrations()
        import switchboard.worker.actors.outbound as actors_module

        broker = get_broker()
        redeclare(actors_module)
        worker = start_worker(broker, threads=4, worker_timeout_ms=50)
        try:
            yield settings
        finally:
            worker.stop()
