"""Real PostgreSQL and RabbitMQ for the integration tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from tests.support import services
from tests.support.environment import configured


@pytest.fixture(scope="session")
def admin_database_url() -> str:
    return services.admin_database_url()


@pytest.fixture(scope="session")
def pg_url(admin_database_url: str) -> Iterator[str]:
    """A fresh database for this test session, migrated once."""
    url = services.create_database(admin_database_url)
    with configured(database_url=url, amqp_url=""):
        worker_startup_migrations()
    yield url
    services.drop_database(admin_database_url, url)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A private RabbitMQ vhost for this test session."""
    url, vhost = services.create_vhost(services.broker_url())
    yield url
    services.delete_vhost(vhost)


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at the session's PostgreSQL database, embedded broker."""
    with configured(database_url=pg_url, amqp_url="", var_dir=str(tmp_path)) as settings:
        yield settings


@pytest.fixture
def pg_rabbit(pg_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at PostgreSQL and RabbitMQ."""
    with configured(database_url=pg_url, amqp_url=amqp_url, var_dir=str(tmp_path)) as settings:
        yield settings
