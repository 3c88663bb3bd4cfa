"""Prometheus counters and a histogram cheap enough to bump for every 20 ms audio frame.

``prometheus_client``'s own take a lock and walk their buckets in Python on every call,
~1–2 µs each, three times per frame on the gateway's hottest path. These are plain numbers
changed by the event loop's thread only, and read by a collector when ``/metrics`` is
scraped; they are exposed under the same names, types and buckets as the library's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class FrameCounter:
    """A counter without labels: ``inc()`` adds to a plain integer."""

    __slots__ = ("name", "documentation", "value")

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        """Count ``amount`` more."""
        self.value += amount

    def _metric(self) -> Metric:
        return CounterMetricFamily(self.name, self.documentation, value=self.value)


class FrameHistogram:
    """A histogram without labels: ``observe()`` finds its bucket by bisection."""

    __slots__ = ("name", "documentation", "_bounds", "_counts", "_sum")

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation (a value equal to a bound falls in that bound's bucket)."""
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def _metric(self) -> Metric:
        counts, total_sum = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=total_sum
        )


class _FrameMetricsCollector(Collector):
    """Exposes every frame metric of the process."""

    def __init__(self) -> None:
        self.metrics: list[FrameCounter | FrameHistogram] = []

    def collect(self) -> Iterator[Metric]:
        for metric in self.metrics:
            yield metric._metric()


_COLLECTOR = _FrameMetricsCollector()
REGISTRY.register(_COLLECTOR)


def frame_counter(name: str, documentation: str) -> FrameCounter:
    """A new frame counter, exposed on the default registry."""
    counter = FrameCounter(name, documentation)
    _COLLECTOR.metrics.append(counter)
    return counter


def frame_histogram(name: str, documentation: str, buckets: Sequence[float]) -> FrameHistogram:
    """A new frame histogram, exposed on the default registry."""
    histogram = FrameHistogram(name, documentation, buckets)
    _COLLECTOR.metrics.append(histogram)
    return histogram
