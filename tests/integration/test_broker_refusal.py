"""A RabbitMQ that refuses ``AMQP_URL``'s login (a virtual host that does not exist, a wrong
password) refuses the start of ``switchboard run`` and ``switchboard worker`` in one line;
one that is only away is waited for, as in service (docs/reliability.md)."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from switchboard.common.health import broker_refusal
from switchboard.common.settings import Settings
from tests.support import services
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for

ADVICE = (
    "check its user and password, and that its virtual host exists and the user has "
    "permissions on it"
)


def _with(url: str, *, vhost: str | None = None, password: str | None = None) -> str:
    parts = urlparse(url)
    netloc = parts.netloc
    if password is not None:
        user = parts.username or "guest"
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 5672}"
    path = f"/{vhost}" if vhost is not None else parts.path
    return urlunparse(parts._replace(netloc=netloc, path=path))


@pytest.fixture(scope="module")
def broker() -> str:
    return services.broker_url()


def test_a_virtual_host_that_does_not_exist_is_named(broker: str) -> None:
    vhost = f"sbtest_missing_{uuid.uuid4().hex[:8]}"
    refusal = broker_refusal(Settings(amqp_url=_with(broker, vhost=vhost)))
    assert refusal is not None
    assert f"vhost {vhost} not found (530)" in refusal and refusal.endswith(ADVICE), refusal


def test_a_wrong_password_is_refused_without_being_printed(broker: str) -> None:
    refusal = broker_refusal(Settings(amqp_url=_with(broker, password="not-the-password")))
    assert refusal is not None
    assert "ACCESS_REFUSED" in refusal and "not-the-password" not in refusal, refusal


def test_a_broker_that_lets_us_in_or_is_away_is_no_refusal(broker: str) -> None:
    assert broker_refusal(Settings(amqp_url=broker)) is None
    away = urlparse(broker)._replace(netloc=f"guest:guest@127.0.0.1:{free_port()}")
    assert broker_refusal(Settings(amqp_url=urlunparse(away))) is None


@pytest.mark.parametrize("command", ["run", "worker"])
def test_the_start_is_refused_in_one_line(broker: str, tmp_path: Path, command: str) -> None:
    """Before, both started: every consumer logged the refusal with its traceback a few times
    a second (thousands of lines a minute), and ``run`` printed its banner, "up"."""
    vhost = f"sbtest_missing_{uuid.uuid4().hex[:8]}"
    url = _with(broker, vhost=vhost)
    env = service_env(database_url="", amqp_url=url, var_dir=str(tmp_path / "var"))
    if command == "run":
        args = ["run", "--api-port", str(free_port()), "--gateway-port", str(free_port())]
        args += ["--scheduler-port", str(free_port())]
    else:
        args = ["worker", "--processes", "1", "--threads", "1", "--metrics-port", "0"]
    process = ServiceProcess(args, env, tmp_path / f"{command}.log")
    try:
        wait_for(
            lambda: (
                process.proc.poll() is not None
                or any(said in process.output() for said in ("Switchboard is up", "Consumer"))
            ),
            timeout=60,
            what="the start to end, or its consumers to be refused",
        )
        output = process.output().strip()
        assert process.proc.poll() is not None, output
        code = process.proc.wait(30)
    finally:
        process.stop()
    output = process.output().strip()
    assert code == 2, output
    shown = _with(broker, vhost=vhost, password="***") if urlparse(url).password else url
    assert output == (
        f"error: RabbitMQ refused AMQP_URL {shown}: NOT_ALLOWED - vhost {vhost} not found "
        f"(530); {ADVICE}"
    )
