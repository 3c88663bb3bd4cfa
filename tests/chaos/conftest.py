"""The chaos tier: each scenario on a database and vhost of its own, with the services as
processes it kills, and PostgreSQL or RabbitMQ stopped under them.

``make test`` runs every scenario's short form; ``make chaos`` (``CHAOS=full``) the full
one. Each scenario reports one line of what it did and what it counted; the lines are
repeated at the end of the run, under "chaos".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from switchboard.common.migrate import worker_startup_migrations
from tests.chaos.actors import EFFECTS_DDL
from tests.chaos.stack import CHAOS_ENV, Stack
from tests.support import services
from tests.support.environment import configured

_HERE = Path(__file__).parent
_LINES = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.chaos)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_LINES, [])
    if lines:
        terminalreporter.section("chaos")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``report(scenario, what)`` prints ``chaos[scenario]: what`` and keeps it for the end."""

    def say(scenario: str, what: str) -> None:
        line = f"chaos[{scenario}]: {what}"
        print(line, flush=True)
        request.config.stash.setdefault(_LINES, []).append(line)

    return say


@pytest.fixture(scope="session")
def chaos_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once, with the effect table, that each scenario's is copied from."""
    admin_url = services.admin_database_url()
    url = services.create_database(admin_url)
    try:
        with configured(
            database_url=url, amqp_url="", var_dir=str(tmp_path_factory.mktemp("template"))
        ):
            worker_startup_migrations()
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in EFFECTS_DDL:
                conn.execute(statement)
        yield url
    finally:
        services.drop_database(admin_url, url)


def _copy_database(admin_url: str, template_url: str) -> str:
    name = f"sbchaos_{uuid.uuid4().hex[:10]}"
    template = template_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def chaos_vhost() -> Iterator[str]:
    """One RabbitMQ vhost for the scenarios (``rabbitmqctl`` takes seconds a call). A message
    a scenario leaves behind names a job the next one's database does not have: its worker
    skips it."""
    url, vhost = services.create_vhost(services.broker_url())
    yield url
    services.delete_vhost(vhost)


@pytest.fixture
def stack(chaos_template: str, chaos_vhost: str, tmp_path: Path) -> Iterator[Stack]:
    """A new database (a copy of the migrated template) on the chaos vhost; this process is
    configured for them; the processes started through the stack are stopped after the test."""
    admin_url = services.admin_database_url()
    database_url = _copy_database(admin_url, chaos_template)
    amqp_url = chaos_vhost
    running = Stack(database_url, amqp_url, tmp_path)
    try:
        with configured(
            database_url=database_url, amqp_url=amqp_url, var_dir=str(tmp_path), **CHAOS_ENV
        ):
            try:
                yield running
            finally:
                # Printed output is shown by pytest only when the test failed.
                print(running.stop_all())
    finally:
        services.drop_database(admin_url, database_url)
