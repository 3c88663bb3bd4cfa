"""Real PostgreSQL and RabbitMQ for the integration tier."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from switchboard.worker.runtime import inflight
from tests.support import services
from tests.support.environment import configured
from tests.support.processes import ServiceProcess, service_env


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


@pytest.fixture
def start_service(pg_rabbit: Settings, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start ``switchboard <args>`` processes against the test database and broker."""
    started: list[ServiceProcess] = []

    def start(*args: str, **env: str) -> ServiceProcess:
        merged = service_env(
            database_url=pg_rabbit.database_url, amqp_url=pg_rabbit.amqp_url, **env
        )
        process = ServiceProcess(list(args), merged, tmp_path / f"service-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        # Printed output is shown by pytest only when the test failed.
        print(f"--- {process.log_path.name} ---\n{process.output()[-4000:]}")


@pytest.fixture
def start_worker(start_service: Callable[..., ServiceProcess]) -> Callable[..., ServiceProcess]:
    """Start ``switchboard worker`` with the test actors on the given queues."""

    def start(*queues: str, processes: int = 1, threads: int = 4) -> ServiceProcess:
        queue_args = [arg for queue in queues for arg in ("--queue", queue)]
        return start_service(
            "worker",
            "tests.support.actors",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            *queue_args,
        )

    return start


@pytest.fixture
def whatsapp_queues(pg: Settings) -> None:
    """The WhatsApp jobs a test enqueues land in the in-process broker, so no outbox row is
    left for the relay tests to trip over (the relay publishes in order until one fails)."""
    from switchboard.common.jobs.broker import get_broker

    broker = get_broker()
    for queue in ("whatsapp", "whatsapp_send", "analysis"):
        broker.declare_queue(queue)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ledger's knowledge of cancellations stays fresh for a minute, so fast starts are
    allowed and the tests do not race its 0.1 s bound."""
    monkeypatch.setattr(inflight, "FRESH_S", 60.0)
    inflight.inflight.forget()
    yield
    inflight.inflight.forget()


@pytest.fixture
def managed_owner_database(admin_database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A database owned by a role that is no superuser (``CREATEROLE``, as a managed
    PostgreSQL's first user), migrated from nothing and used as that role; embedded broker."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = services.create_owned_database(admin_database_url)
    try:
        with configured(database_url=url, amqp_url="", var_dir=str(tmp_path)) as settings:
            with psycopg.connect(
                make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            ) as conn:
                superuser = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                assert conn.execute(superuser).fetchone() == (False,)
            worker_startup_migrations()
            yield settings
    finally:
        services.drop_database(admin_database_url, url)
        services.drop_role(admin_database_url, str(make_url(url).username))


@pytest.fixture
def new_database(admin_database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A database of this test's own, just migrated (no statistics yet), embedded broker with
    the WhatsApp and test queues declared."""
    from switchboard.common.jobs.broker import get_broker
    from tests.support.actors import NOOP

    url = services.create_database(admin_database_url)
    try:
        with configured(database_url=url, amqp_url="", var_dir=str(tmp_path)) as settings:
            worker_startup_migrations()
            for queue in ("whatsapp", "whatsapp_send", "analysis", NOOP.queue):
                get_broker().declare_queue(queue)
            yield settings
    finally:
        services.drop_database(admin_database_url, url)
