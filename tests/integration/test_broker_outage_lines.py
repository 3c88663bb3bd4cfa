"""A RabbitMQ out of reach is said in one line, then in one line per growing interval, not
in lines per consumer per attempt; the worker consumes again once it is back
(``common/broker_outage.py``).

The broker is the real one behind a TCP proxy this test opens and cuts: closed, nothing
listens on its port (connections refused, as at a start while RabbitMQ is down); cut, every
connection it carried is reset (as by a RabbitMQ restart). RabbitMQ itself is never stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from switchboard.common import broker_outage
from switchboard.common.broker_outage import BrokerOutage
from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.models import Job, Lead
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.environment import configured
from tests.support.factories import make_business
from tests.support.json_logs import JsonLines, json_lines
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

__all__ = ["json_lines"]  # the fixture

#: What the libraries said per consumer and attempt before: none of it may show.
LIBRARY_LINES = ("Consumer encountered", "Restarting consumer", "[pika", "Traceback")
ATTEMPTS = re.compile(r"failed_attempts=(\d+)")


@pytest.fixture
def proxy(pg_rabbit: Settings) -> Iterator[TcpProxy]:
    real = urlparse(pg_rabbit.amqp_url)
    forwarding = TcpProxy(free_port(), (real.hostname or "127.0.0.1", real.port or 5672))
    yield forwarding
    forwarding.cut()


@pytest.fixture
def worker(pg_rabbit: Settings, proxy: TcpProxy, tmp_path: Path) -> Iterator[ServiceProcess]:
    """``switchboard worker`` whose AMQP_URL is the proxy's port, closed at its start."""
    real = urlparse(pg_rabbit.amqp_url)
    through_proxy = real._replace(netloc=f"{real.username}:{real.password}@127.0.0.1:{proxy.port}")
    env = service_env(
        database_url=pg_rabbit.database_url, amqp_url=through_proxy.geturl(), log_level="INFO"
    )
    # Dramatiq's consumers restart every 0.3 s, not 3 s: many attempts per line of ours.
    env["dramatiq_restart_delay"] = "300"
    args = ["worker", "tests.support.actors", "--processes", "1", "--threads", "2"]
    process = ServiceProcess(args, env, tmp_path / "worker.log")
    yield process
    process.stop()
    print(f"--- worker.log ---\n{process.output()[-6000:]}")


def _outage_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "broker." in line]


def _wait_for_summary(process: ServiceProcess, since: int) -> list[str]:
    """The outage's lines from ``since`` (an offset in the output), once a summary
    (``broker.still_unreachable``) is among them: many attempts have failed by then (or
    once a library's own line shows, which fails the test)."""

    def summarised() -> bool:
        output = process.output()[since:]
        said = "broker.still_unreachable" in output or any(s in output for s in LIBRARY_LINES)
        return said or not process.alive

    wait_for(summarised, timeout=90, what="a summary of the failed attempts")
    assert process.alive, process.output()
    return _outage_lines(process.output()[since:])


def _assert_one_line_then_summaries(output: str, lines: list[str], port: int) -> None:
    assert not [line for line in output.splitlines() if line.startswith(LIBRARY_LINES)], output
    assert not any(said in output for said in LIBRARY_LINES), output
    assert ":guest@" not in output and "amqp://" not in output, output  # no URL, no password
    first, *summaries = lines
    assert "broker.unreachable" in first and f"broker=127.0.0.1:{port}/" in first, lines
    assert "Connection refused" in first or "reset" in first.lower() or "lost" in first, lines
    assert summaries and all("broker.still_unreachable" in line for line in summaries), lines
    attempts = int(ATTEMPTS.findall(summaries[-1])[0])
    # Each consumer (two dozen) failed at least once before the first summary, and every
    # failure used to be two lines: here a handful of lines for all of them.
    assert attempts >= 5 * len(lines), lines


def _job_runs(pg_rabbit: Settings, phone: str) -> None:
    business = make_business()
    ref = enqueue(actors.RECORD_LEAD, business_id=business.id, phone=phone)

    def succeeded() -> bool:
        with system_session() as session:
            job = session.get(Job, ref.job_id)
            return job is not None and job.status == "succeeded"

    wait_for(succeeded, timeout=60, what="the job to succeed once the broker is back")
    with tenant_session(business.id) as session:
        leads = session.scalar(
            select(func.count()).select_from(Lead).where(Lead.business_id == business.id)
        )
    assert leads == 1


def test_rabbitmq_away_at_the_start_and_mid_run_is_said_once_and_summarised(
    pg_rabbit: Settings, proxy: TcpProxy, worker: ServiceProcess
) -> None:
    # Away from the start: nothing listens on the proxy's port.
    lines = _wait_for_summary(worker, 0)
    _assert_one_line_then_summaries(worker.output(), lines, proxy.port)

    # Back: one line says so, and jobs run.
    proxy.open()
    wait_for(
        lambda: "broker.reachable" in worker.output(), timeout=60, what="the reconnection line"
    )
    _job_runs(pg_rabbit, "+15552220001")

    # Away mid-run (every connection reset, the port closed, as a RabbitMQ restart).
    since = len(worker.output())
    proxy.cut()
    lines = _wait_for_summary(worker, since)
    _assert_one_line_then_summaries(worker.output()[since:], lines, proxy.port)

    # Back again.
    since = len(worker.output())
    proxy.open()
    wait_for(lambda: "broker.reachable" in worker.output()[since:], timeout=60, what="reconnection")
    _job_runs(pg_rabbit, "+15552220002")


def test_the_outbox_publishing_while_rabbitmq_is_away_is_counted_not_said_per_turn(
    pg_url: str, tmp_path: Path, json_lines: JsonLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay (the scheduler's, every worker's) tries every second: it used to say
    ``outbox.publish_failed`` each time, and pika's lines with a traceback where its level is
    not raised (the scheduler, ``switchboard run``)."""
    from switchboard.common.jobs.outbox import relay_outbox

    monkeypatch.setattr(broker_outage, "OUTAGE", BrokerOutage())  # this process's, afresh
    away = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    with configured(database_url=pg_url, amqp_url=away, var_dir=str(tmp_path)):
        business = make_business()
        for number in range(3):
            enqueue(actors.RECORD_LEAD, business_id=business.id, phone=f"+1555333000{number}")
        for _ in range(3):
            relay_outbox(min_age_s=0)
    lines = json_lines()
    events = [line["event"] for line in lines]
    assert events.count("broker.unreachable") == 1, events
    assert [event for event in events if not event.startswith("broker.")] == [], events
    assert ":guest@" not in str(lines)
