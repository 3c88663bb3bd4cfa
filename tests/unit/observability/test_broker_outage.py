"""A broker out of reach is one line, then one per doubling interval, not the libraries' lines
per attempt (``common/broker_outage.py``); the worker's own run of it is in
``tests/integration/test_broker_outage_lines.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pika import exceptions

from switchboard.common import broker_outage
from switchboard.common.broker_outage import BrokerOutage, broker_reachable
from tests.support.environment import configured
from tests.support.processes import free_port

from .conftest import JsonLines


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """A fresh outage on a clock the test moves; AMQP_URL with a password."""
    moved = Clock()
    monkeypatch.setattr(broker_outage, "OUTAGE", BrokerOutage(clock=moved))
    with configured(amqp_url="amqp://app:s3cret-pw@rabbit.internal:5673/prod"):
        yield moved


def _connect_to_nothing(port: int) -> None:
    """A real pika connection attempt to a port nobody listens on (its real log lines)."""
    parameters = pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{port}/")
    parameters.connection_attempts = 1
    with pytest.raises(exceptions.AMQPConnectionError):
        pika.BlockingConnection(parameters)


def _consumer_failed(queue: str) -> None:
    """What Dramatiq's consumer thread logs per failed attempt (``dramatiq/worker.py``)."""
    logger = logging.getLogger(f"dramatiq.worker.ConsumerThread({queue})")
    logger.critical("Consumer encountered a connection error: %s", "AMQPConnectionError: (x,)")
    logger.info("Restarting consumer in %0.2f seconds.", 3.0)


def _broker_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert [line for line in lines if not line["event"].startswith("broker.")] == []
    return lines


def test_the_libraries_lines_make_one_line_then_doubling_summaries(
    json_lines: JsonLines, clock: Clock
) -> None:
    port = free_port()
    _connect_to_nothing(port)
    for queue in ("leads", "calls", "webhooks"):
        _consumer_failed(queue)
    logging.getLogger("aiormq.connection").error("error when creating transport: %r", "x")

    [first] = _broker_lines(json_lines())
    assert first["event"] == "broker.unreachable" and first["level"] == "warning"
    assert first["broker"] == "rabbit.internal:5673/prod" and first["retrying"] is True
    assert first["error"] == "Connection refused"
    assert first["next_report_in_s"] == broker_outage.FIRST_INTERVAL_S

    intervals = []
    for _ in range(6):
        clock.now += broker_outage.MAX_INTERVAL_S  # each interval is over
        _consumer_failed("leads")
        _consumer_failed("calls")  # within the same interval: counted, not said
        [line] = _broker_lines(json_lines())
        assert line["event"] == "broker.still_unreachable"
        intervals.append(line["next_report_in_s"])
    assert intervals == [6.0, 12.0, 24.0, 30.0, 30.0, 30.0]
    assert line["failed_attempts"] > 12 and line["for_s"] == 6 * broker_outage.MAX_INTERVAL_S

    clock.now += 1
    broker_reachable()
    broker_reachable()  # every consumer's reconnection: said once
    [back] = _broker_lines(json_lines())
    assert (back["event"], back["level"]) == ("broker.reachable", "info")
    assert back["failed_attempts"] == line["failed_attempts"] + 1  # the "calls" one after it

    _consumer_failed("leads")  # a new outage is said again
    [again] = _broker_lines(json_lines())
    assert again["event"] == "broker.unreachable"


def test_no_line_holds_the_url_or_its_password(json_lines: JsonLines, clock: Clock) -> None:
    logging.getLogger("aio_pika.robust_connection").info(
        "Connection to %s closed. Reconnecting after %r seconds.",
        "amqp://app:s3cret-pw@rabbit.internal:5673/prod",
        5,
    )
    [line] = _broker_lines(json_lines())
    assert "s3cret-pw" not in str(line) and "amqp://" not in str(line), line


def test_other_lines_pass(json_lines: JsonLines, clock: Clock) -> None:
    logging.getLogger("pika.channel").warning("Received remote Channel.Close (406): %r", "x")
    logging.getLogger("dramatiq.worker.ConsumerThread(leads)").critical(
        "Consumer encountered an unexpected error."
    )
    logging.getLogger("dramatiq.worker.ConsumerThread(leads)").info(
        "Restarting consumer in %0.2f seconds.", 3.0
    )
    events = [line["event"] for line in json_lines()]
    assert events == [
        "Received remote Channel.Close (406): 'x'",
        "Consumer encountered an unexpected error.",
        "Restarting consumer in 3.00 seconds.",
    ]
