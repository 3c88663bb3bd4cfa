"""Finding PostgreSQL and RabbitMQ for tests: env vars, then local defaults, then testcontainers.

In CI (``CI`` set) a missing service fails the run; on a laptop without it the test skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from urllib.parse import urlparse

import pytest

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def missing(service: str, url: str) -> None:
    """Fail in CI, skip elsewhere."""
    message = f"{service} is not reachable at {url}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must provide it: see .ci/run)")
    pytest.skip(message)


def _docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


def admin_database_url() -> str:
    """A URL to a PostgreSQL server where the tests may create databases."""
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    if _reachable(url, 5432):
        return url
    if _docker_available() and not os.environ.get("CI"):
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16")
        container.start()
        return container.get_connection_url().replace("+psycopg2", "")
    missing("PostgreSQL", url)
    raise AssertionError("unreachable")


def broker_url() -> str:
    """A URL to a RabbitMQ server."""
    url = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL)
    if _reachable(url, 5672):
        return url
    if _docker_available() and not os.environ.get("CI"):
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13")
        container.start()
        params = container.get_connection_params()
        return f"amqp://guest:guest@{params.host}:{params.port}/"
    missing("RabbitMQ", url)
    raise AssertionError("unreachable")


def create_database(admin_url: str) -> str:
    """Create a fresh, uniquely named database and return its URL."""
    import psycopg

    name = f"sbtest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def create_owned_database(admin_url: str) -> str:
    """Create a login role that is no superuser and may create roles (``CREATEROLE``, as the
    first user of a managed PostgreSQL is), and a fresh database it owns, public schema and
    all; return the database's URL as that role (drop it with :func:`drop_role`)."""
    import psycopg
    from sqlalchemy.engine import make_url

    role, password = f"sbowner_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    name = f"sbtest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOBYPASSRLS CREATEROLE"
        )
        conn.execute(f'CREATE DATABASE "{name}" OWNER {role}')
    with psycopg.connect(admin_url.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
        conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
    url = make_url(admin_url).set(username=role, password=password, database=name)
    return url.render_as_string(hide_password=False)


def drop_role(admin_url: str, role: str) -> None:
    """Drop a role made by :func:`create_owned_database`, once its database is dropped."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by :func:`create_database`, disconnecting its sessions."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_vhost(url: str) -> tuple[str, str | None]:
    """A private RabbitMQ vhost for this test session when rabbitmqctl is at hand."""
    if shutil.which("rabbitmqctl") is None or urlparse(url).hostname not in (
        "127.0.0.1",
        "localhost",
    ):
        return url, None
    vhost = f"sbtest_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return url.rstrip("/") + "/" + vhost, vhost


def delete_vhost(vhost: str | None) -> None:
    """Remove a vhost made by :func:`create_vhost`."""
    if vhost:
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True
        )


def rabbit_stop() -> None:
    """Stop the RabbitMQ application (the node keeps running)."""
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True)


def rabbit_start(url: str = DEFAULT_AMQP_URL, timeout_s: float = 90) -> None:
    """Start the RabbitMQ application and wait until it accepts connections."""
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=False, capture_output=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _reachable(url, 5672):
            return
        time.sleep(0.2)
    raise RuntimeError("RabbitMQ did not come back")
