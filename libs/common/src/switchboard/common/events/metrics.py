"""Prometheus metrics for event publishing, shared by every publisher adapter."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "switchboard_events_published_total",
    "Call events confirmed by the broker (or delivered in-process).",
    ["type"],
)
EVENTS_SPOOLED = Counter(
    "switchboard_events_spooled_total",
    "Call events written to the local spool because the broker was unreachable.",
    ["type"],
)
EVENTS_SPOOL_DEPTH = Gauge(
    "switchboard_events_spool_depth", "Call events waiting in the local spool."
)
