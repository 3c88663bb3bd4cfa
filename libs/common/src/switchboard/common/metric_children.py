"""A labelled Prometheus metric's children, each looked up once per label values.

``prometheus_client``'s ``labels(...)`` checks the values, turns them into strings, takes the
metric's lock and looks the child up at every call: a few microseconds each, several times per
request or job on the hot paths. :class:`Children` keeps the children it was given by their
values, so a label set's second use is one dict lookup. Label sets must be bounded (routes as
templates, actor names, outcomes), as Prometheus needs them to be anyway. In Prometheus'
multiprocess mode a child writes to its process's file whichever process made it (the
library checks the pid on each write), so a child made before a fork stays right after it.
"""

from __future__ import annotations

from typing import Any


class Children:
    """``children(*values)``: ``metric.labels(*values)``, made on first use and kept."""

    __slots__ = ("_metric", "_made")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._made: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._made.get(values)
        if child is None:  # two threads may both make it: ``labels`` returns the same child
            child = self._made[values] = self._metric.labels(*values)
        return child
