"""Pointing the process's settings, engine and broker at a test database and broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from switchboard.common.db.engine import reset_engine
from switchboard.common.jobs.broker import reset_broker
from switchboard.common.settings import Settings, get_settings
from switchboard.worker.runtime import ledger

#: Fast retries, a low poison threshold and a short heartbeat keep the job tests short.
TEST_ENV = {
    "ENVIRONMENT": "development",
    "JOB_MIN_BACKOFF_MS": "50",
    "JOB_MAX_BACKOFF_MS": "200",
    "JOB_MAX_UNFINISHED_DELIVERIES": "2",
    # A killed worker's job is taken over once its heartbeat is this old (production: 30 s).
    "WORKER_HEARTBEAT_INTERVAL_S": "0.5",
    "WORKER_STALE_AFTER_S": "4",
    "OUTBOX_RELAY_INTERVAL_S": "0.2",
    "OUTBOX_RELAY_MIN_AGE_S": "0.5",
    "LOG_LEVEL": "WARNING",
    "TWILIO_DIAL_BACKOFF_S": "0.05",
    "WHATSAPP_SEND_LOOKUP_WINDOW_S": "2",
    # Workers of parallel tests would race for one status port; a test that wants the
    # status server names its own port.
    "WORKER_METRICS_PORT": "0",
}


def reset_process_state() -> None:
    """Forget cached settings, the engine, the ledger's connections and the broker."""
    reset_broker()
    reset_engine()
    ledger.close_connections()
    get_settings.cache_clear()


@contextmanager
def configured(**env: str) -> Iterator[Settings]:
    """Set environment variables (and TEST_ENV) for the duration, resetting process state."""
    values = {**TEST_ENV, **{k.upper(): v for k, v in env.items()}}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    reset_process_state()
    try:
        yield get_settings()
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        reset_process_state()
