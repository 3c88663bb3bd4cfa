"""The worker's RabbitMQ broker calls only the hooks its middleware define, as Dramatiq would."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Broker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, SkipMessage

from switchboard.worker.runtime.broker import LedgerRabbitmqBroker


class Recorder(Middleware):
    """Records its hooks' calls in a list shared by all recorders."""

    def __init__(self, name: str, calls: list[str], fail: type[Exception] | None = None) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    def before_process_message(self, broker: Broker, message: Any) -> None:
        self.calls.append(f"{self.name}.before_process_message({message})")
        if self.fail is not None:
            raise self.fail("refused")

    def after_process_message(self, broker: Broker, message: Any, **kwargs: Any) -> None:
        self.calls.append(f"{self.name}.after_process_message({message}, {kwargs})")


class AckOnly(Middleware):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def after_ack(self, broker: Broker, message: Any) -> None:
        self.calls.append(f"ack.after_ack({message})")


def _signals(broker: Broker) -> None:
    broker.emit_before("process_message", "m1")
    broker.emit_after("process_message", "m1", result=None, exception=None)
    broker.emit_before("ack", "m1")
    broker.emit_after("ack", "m1")


def _brokers(calls: list[list[str]]) -> list[Broker]:
    """Ours and Dramatiq's stub, each with the same middleware (one added late)."""
    brokers: list[Broker] = [
        LedgerRabbitmqBroker(url="amqp://127.0.0.1:1", middleware=[]),
        StubBroker(middleware=[]),
    ]
    for broker, seen in zip(brokers, calls, strict=True):
        broker.add_middleware(Recorder("a", seen))
        broker.add_middleware(AckOnly(seen))
    return brokers


def test_the_hooks_run_as_dramatiqs_own_emit_runs_them() -> None:
    calls: list[list[str]] = [[], []]
    ours, dramatiqs = _brokers(calls)
    for broker in (ours, dramatiqs):
        _signals(broker)

    assert calls[0] == calls[1]
    assert calls[0] == [
        "a.before_process_message(m1)",
        "a.after_process_message(m1, {'result': None, 'exception': None})",
        "ack.after_ack(m1)",
    ]


def test_middleware_added_after_a_signal_ran_is_called_next_time() -> None:
    calls: list[list[str]] = [[], []]
    brokers = _brokers(calls)
    for broker, seen in zip(brokers, calls, strict=True):
        _signals(broker)
        broker.add_middleware(Recorder("b", seen), before=Recorder)
        seen.clear()
        _signals(broker)

    assert calls[0] == calls[1]
    assert calls[0][:2] == ["b.before_process_message(m1)", "a.before_process_message(m1)"]
    assert calls[0][2:4] == [  # "after" hooks in reverse
        "a.after_process_message(m1, {'result': None, 'exception': None})",
        "b.after_process_message(m1, {'result': None, 'exception': None})",
    ]


def test_a_skip_stops_the_signal_and_other_failures_do_not() -> None:
    calls: list[str] = []
    broker = LedgerRabbitmqBroker(url="amqp://127.0.0.1:1", middleware=[])
    broker.add_middleware(Recorder("broken", calls, fail=ValueError))
    broker.add_middleware(Recorder("skipping", calls, fail=SkipMessage))
    broker.add_middleware(Recorder("last", calls))

    with pytest.raises(SkipMessage):
        broker.emit_before("process_message", "m1")

    assert calls == [
        "broken.before_process_message(m1)",  # logged, and the next one still ran
        "skipping.before_process_message(m1)",
    ]


def test_only_the_middleware_that_define_a_hook_are_listed_for_it() -> None:
    calls: list[list[str]] = [[], []]
    ours, _ = _brokers(calls)
    assert isinstance(ours, LedgerRabbitmqBroker)
    ack_only = ours.middleware[-1]
    assert isinstance(ack_only, AckOnly)

    assert ours._hooks_for("after_ack", ours.middleware) == (ack_only.after_ack,)
    assert ours._hooks_for("before_enqueue", ours.middleware) == ()
