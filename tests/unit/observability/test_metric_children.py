"""``Children`` hands out a labelled metric's children as ``labels`` does, asking it once per
label values."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter

from switchboard.common.metric_children import Children


class _Asked:
    def __init__(self, metric: Counter) -> None:
        self.metric, self.asked = metric, 0

    def labels(self, *values: str) -> Any:
        self.asked += 1
        return self.metric.labels(*values)


def test_each_label_set_is_asked_of_the_metric_once_and_counts_as_its_child() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "Things by kind", ["kind", "outcome"], registry=registry)
    asked = _Asked(counter)
    children = Children(asked)

    for _ in range(3):
        children("a", "ok").inc()
    children("b", "ok").inc(2)

    assert asked.asked == 2
    assert children("a", "ok") is counter.labels("a", "ok")
    assert registry.get_sample_value("things_total", {"kind": "a", "outcome": "ok"}) == 3
    assert registry.get_sample_value("things_total", {"kind": "b", "outcome": "ok"}) == 2
